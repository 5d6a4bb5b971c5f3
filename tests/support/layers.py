"""The floors of the house (README "Where things are") and a reader of the imports between them.

Each product module belongs to the floor of its longest matching prefix in ``FLOORS``. A module may
import its own floor and the floors below; the top floor's packages (api, web, jobs) are siblings
that never import each other. Imports under ``if TYPE_CHECKING:`` are for type hints only and are
not arrows. ``python -m tests.support.layers`` prints the package graph.
"""

from __future__ import annotations

import ast
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_PACKAGES = ("booking", "instruments", "vouchers")

# prefix -> (floor, name); the longest matching prefix decides
FLOORS: dict[str, tuple[int, str]] = {
    "booking": (0, "core"),  # the package itself: a docstring, imports nothing
    "booking.core": (0, "core"),
    "booking.models": (1, "models"),
    "instruments.models": (1, "models"),
    "vouchers.models": (1, "models"),
    "booking.people": (2, "people"),
    "instruments": (3, "instruments"),
    "vouchers": (4, "vouchers"),
    "booking.flow": (5, "flow"),
    "booking.api": (6, "api"),
    "booking.web": (6, "web"),
    "booking.jobs": (6, "jobs"),
    "booking.factory": (7, "factory"),
}
TOP_FLOOR = 6


def floor_of(module: str) -> tuple[str, int, str]:
    """(prefix, floor, floor name) of a product module."""
    parts = module.split(".")
    for size in range(len(parts), 0, -1):
        prefix = ".".join(parts[:size])
        if prefix in FLOORS:
            return (prefix, *FLOORS[prefix])
    raise LookupError(f"{module} is on no floor: add its package to FLOORS (tests/support/layers.py)")


@dataclass(frozen=True)
class Arrow:
    source: str
    target: str
    line: int
    in_function: bool
    type_only: bool


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def product_files() -> list[Path]:
    return sorted(p for package in PRODUCT_PACKAGES for p in (ROOT / package).rglob("*.py"))


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def arrows_of(path: Path) -> list[Arrow]:
    source = module_name(path)
    found: list[Arrow] = []

    def visit(node: ast.AST, in_function: bool, type_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                for target in _targets(child, source, path):
                    if target.split(".")[0] in PRODUCT_PACKAGES:
                        found.append(Arrow(source, target, child.lineno, in_function, type_only))
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            visit(child, inner, type_only or (isinstance(child, ast.If) and _is_type_checking(child)))

    visit(ast.parse(path.read_text(encoding="utf-8")), False, False)
    return found


def _targets(node: ast.Import | ast.ImportFrom, source: str, path: Path) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:  # relative import: resolve against the importing module's package
        package = source if path.name == "__init__.py" else source.rsplit(".", 1)[0]
        base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
        module = ".".join(base + ([node.module] if node.module else []))
    else:
        module = node.module or ""
    # ``from pkg import sub`` imports the submodule pkg.sub when there is one
    targets = []
    for alias in node.names:
        candidate = f"{module}.{alias.name}"
        is_module = (ROOT / candidate.replace(".", "/")).with_suffix(".py").exists() or (
            ROOT / candidate.replace(".", "/") / "__init__.py"
        ).exists()
        targets.append(candidate if is_module else module)
    return targets


def wrong_arrow(arrow: Arrow) -> str | None:
    """Why this arrow breaks the floors, or None when it is allowed."""
    if arrow.type_only:
        return None
    src_prefix, src_floor, src_name = floor_of(arrow.source)
    dst_prefix, dst_floor, dst_name = floor_of(arrow.target)
    where = f"{arrow.source} (line {arrow.line}{', inside a function' if arrow.in_function else ''})"
    if dst_floor > src_floor:
        return (
            f"{where} imports {arrow.target}: floor {src_floor} ({src_name}) must not import "
            f"floor {dst_floor} ({dst_name}) above it"
        )
    if src_floor == dst_floor == TOP_FLOOR and src_prefix != dst_prefix:
        return f"{where} imports {arrow.target}: {src_name} and {dst_name} are siblings and never import each other"
    if arrow.source == "booking" or (src_prefix == "booking" and arrow.source == "booking"):
        return f"{where} imports {arrow.target}: the booking package itself imports nothing"
    return None


def all_arrows() -> list[Arrow]:
    return [arrow for path in product_files() for arrow in arrows_of(path)]


def import_cycles(arrows: list[Arrow]) -> list[list[str]]:
    """Cycles among modules through module-level imports (what runs at import time)."""
    graph: dict[str, set[str]] = {}
    for arrow in arrows:
        if not arrow.in_function and not arrow.type_only and arrow.source != arrow.target:
            graph.setdefault(arrow.source, set()).add(arrow.target)
    cycles, state, stack = [], {}, []

    def walk(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = "done"

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in state:
            walk(node)
    return cycles


def package_graph(arrows: list[Arrow]) -> Counter:
    edges: Counter = Counter()
    for arrow in arrows:
        if arrow.type_only:
            continue
        a, b = floor_of(arrow.source)[0], floor_of(arrow.target)[0]
        if a != b:
            edges[(a, b, arrow.in_function)] += 1
    return edges


if __name__ == "__main__":
    edges = package_graph(all_arrows())
    for (a, b, in_function), count in sorted(edges.items()):
        print(f"{a:20} -> {b:20} {count:3}{'  (inside functions)' if in_function else ''}")
