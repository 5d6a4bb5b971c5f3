"""Translations: Simplified Chinese (default) and English; money as ¥ with two decimals."""

from __future__ import annotations

import os
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, current_app, session
from flask_babel import Babel, get_locale
from flask_login import current_user

CATALOGUES = Path(__file__).parents[1] / "translations"


def compile_catalogues(target: Path) -> Path:
    """Compile the committed .po catalogues into ``target`` (compiled files are build output).

    Recompiles only when a .po is newer than its .mo, so start-up stays cheap. Safe when several
    processes start at once.
    """
    for po_path in CATALOGUES.glob("*/LC_MESSAGES/*.po"):
        locale = po_path.parent.parent.name
        # Babel spells zh_CN as zh_Hans_CN, and gettext looks only under that name (then "zh").
        mo_path = target / str(Locale.parse(locale)) / "LC_MESSAGES" / (po_path.stem + ".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=locale)
        # a file of this process's own, then an atomic rename: processes starting at once (gunicorn's
        # workers, the test processes) each write a whole catalogue and the last rename wins
        tmp = mo_path.with_suffix(f".mo.{os.getpid()}.tmp")
        with tmp.open("wb") as mo_file:
            write_mo(mo_file, catalog)
        tmp.replace(mo_path)
    return target


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    chosen = session.get("locale")
    if chosen in languages:
        return chosen
    if getattr(current_user, "is_authenticated", False) and current_user.locale in languages:
        return current_user.locale
    return "zh_CN"


def current_language() -> str:
    """The ``LANGUAGES`` code of this request's language ("zh_CN", not Babel's "zh_Hans_CN")."""
    locale = get_locale()
    for code in current_app.config["LANGUAGES"]:
        if Locale.parse(code) == locale:
            return code
    return str(locale)


def format_yuan(fen: int | None) -> str:
    """Integer fen as ¥ with two decimals and thousands separators: 123456 → ¥1,234.56."""
    if fen is None:
        return "—"
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(int(fen)), 100)
    return f"{sign}¥{yuan:,}.{cents:02d}"


def init_i18n(app: Flask, babel: Babel) -> None:
    compiled = compile_catalogues(Path(app.instance_path) / "translations")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(compiled)
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.filters["yuan"] = format_yuan
