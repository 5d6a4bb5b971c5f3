"""The split under a programme's rules (API.md "programme rules"), against a small reference written
here from PRODUCT.md's stacking rule, independently of ``vouchers.split``:

- a programme naming its eligible payees pays only for those; elsewhere its vouchers do not apply;
- a programme's rate for the resource kind (``rate_bp_by_kind``) replaces its ``rate_bp``;
- what one team may still receive from a programme this year (its annual room) caps that
  programme's vouchers together;
- then as ever: municipal first, earliest expiry first within a level, each voucher's rate caps its
  level's running total, a district ceiling caps m + d, balances cap, subsidies round down.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vouchers.split import Candidate, VoucherBalance, split_cost, usable_vouchers

T0 = datetime(2026, 12, 1, tzinfo=UTC)
KINDS = ("compute", "instrument", "service")
PAYEES = (("lab", 1), ("lab", 2), ("provider", 1), ("provider", 7))
TEAM_DISTRICT, TEAM_ORG, PAYEE_ORG = "500106", 100, 200
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Programme:
    id: int
    level: str
    rate_bp: int
    by_kind: dict
    payees: frozenset | None
    room: int | None
    ceiling_bp: int | None


@dataclass(frozen=True)
class Held:
    id: int
    programme: Programme
    balance: int
    expires: datetime


def reference(cost: int, kind: str, payee: tuple, held: list[Held]) -> dict[int, int]:
    """Voucher id → what it pays, from the rule as PRODUCT.md and API.md state it."""
    paid: dict[int, int] = {}
    level_total = {"municipal": 0, "district": 0}
    programme_total: dict[int, int] = {}
    applies = [h for h in held if h.programme.payees is None or payee in h.programme.payees]
    for level in ("municipal", "district"):  # municipal first
        for h in sorted((h for h in applies if h.programme.level == level), key=lambda h: (h.expires, h.id)):
            p = h.programme
            rate = p.by_kind.get(kind, p.rate_bp)
            limits = [h.balance, cost * rate // 10_000 - level_total[level]]
            if p.room is not None:
                limits.append(p.room - programme_total.get(p.id, 0))
            if level == "district":
                ceiling = 10_000 if p.ceiling_bp is None else p.ceiling_bp
                limits.append(cost * ceiling // 10_000 - level_total["municipal"] - level_total["district"])
            amount = min(limits)
            if amount > 0:
                paid[h.id] = amount
                level_total[level] += amount
                programme_total[p.id] = programme_total.get(p.id, 0) + amount
    return paid


@st.composite
def programmes(draw, pid: int, level: str):
    kinds = draw(st.lists(st.sampled_from(KINDS), unique=True, max_size=3))
    return Programme(
        id=pid,
        level=level,
        rate_bp=draw(st.integers(1, 10_000)),
        by_kind={k: draw(st.integers(0, 10_000)) for k in kinds},
        payees=draw(st.one_of(st.none(), st.frozensets(st.sampled_from(PAYEES), max_size=3))),
        room=draw(st.one_of(st.none(), st.integers(0, 20_000), st.integers(0, 10**8))),
        ceiling_bp=draw(st.integers(1, 10_000)) if level == "district" else None,
    )


@st.composite
def holdings(draw):
    plan = draw(st.lists(st.sampled_from(["municipal", "district"]), min_size=1, max_size=4))
    progs = [draw(programmes(10 + i, level)) for i, level in enumerate(plan)]
    held = []
    vid = draw(st.integers(1, 50))
    for p in progs:
        for _ in range(draw(st.integers(1, 3))):  # a team may hold several vouchers of one programme
            balance = draw(st.one_of(st.integers(1, 5_000), st.integers(1, 10**8)))
            expires = T0 + timedelta(days=draw(st.integers(5, 8)))
            held.append(Held(vid, p, balance, expires))
            vid += draw(st.integers(1, 3))
    return draw(st.permutations(held))


def candidates(held: list[Held]) -> list[Candidate]:
    return [
        Candidate(
            balance=VoucherBalance(
                h.id,
                h.programme.id,
                h.programme.level,
                h.programme.rate_bp,
                h.balance,
                h.expires,
                h.programme.ceiling_bp,
                room_fen=h.programme.room,
            ),
            status="active",
            kinds=frozenset(KINDS),
            district_code=None if h.programme.level == "municipal" else TEAM_DISTRICT,
            eligible_payees=h.programme.payees,
            rate_bp_by_kind=h.programme.by_kind,
        )
        for h in held
    ]


def split_with_rules(cost, kind, payee, held):
    usable = usable_vouchers(
        candidates(held),
        kind=kind,
        team_district_code=TEAM_DISTRICT,
        team_organization_id=TEAM_ORG,
        payee_organization_id=PAYEE_ORG,
        until=T0,
        payee=payee,
    )
    return split_cost(cost, usable)


@SETTINGS
@given(
    cost=st.one_of(st.integers(0, 100_000), st.integers(0, 10**9)),
    kind=st.sampled_from(KINDS),
    payee=st.sampled_from(PAYEES),
    held=holdings(),
)
def test_the_split_under_programme_rules_matches_the_reference(cost, kind, payee, held):
    split = split_with_rules(cost, kind, payee, held)
    assert {line.voucher_id: line.amount_fen for line in split.lines} == reference(cost, kind, payee, held)
    assert split.team_pays_fen == cost - sum(reference(cost, kind, payee, held).values())
    by_id = {h.id: h for h in held}
    levels = [line.level for line in split.lines]
    assert levels == sorted(levels, key=["municipal", "district"].index)  # municipal first
    assert [line.position for line in split.lines] == list(range(1, len(split.lines) + 1))
    for line in split.lines:
        programme = by_id[line.voucher_id].programme
        assert programme.payees is None or payee in programme.payees  # never pays an ineligible payee
        assert line.amount_fen <= by_id[line.voucher_id].balance
    for programme in {h.programme.id: h.programme for h in held}.values():
        drawn = sum(line.amount_fen for line in split.lines if line.program_id == programme.id)
        if programme.room is not None:
            assert drawn <= programme.room  # the annual room is never exceeded
        rate = programme.by_kind.get(kind, programme.rate_bp)
        assert drawn <= cost * rate // 10_000  # never above the programme's rate for this kind


@SETTINGS
@given(
    cost=st.integers(0, 10**7),
    kind=st.sampled_from(KINDS),
    payee=st.sampled_from(PAYEES),
    municipal=programmes(1, "municipal"),
    district=programmes(2, "district"),
    bal_m=st.integers(1, 10**7),
    bal_d=st.integers(1, 10**7),
)
def test_one_voucher_of_each_level_follows_the_closed_form(
    cost, kind, payee, municipal, district, bal_m, bal_d
):
    """m = min(⌊C × r_m(K)⌋, balance, room) where the payee is eligible, else 0;
    d = max(0, min(⌊C × r_d(K)⌋, balance, room, ⌊C × ceiling⌋ − m)) likewise."""
    held = [
        Held(2, district, bal_d, T0 + timedelta(days=1)),
        Held(1, municipal, bal_m, T0 + timedelta(days=9)),
    ]

    def share(p: Programme, balance: int, *more: int) -> int:
        if p.payees is not None and payee not in p.payees:
            return 0
        limits = [cost * p.by_kind.get(kind, p.rate_bp) // 10_000, balance, *more]
        if p.room is not None:
            limits.append(p.room)
        return max(0, min(limits))

    m = share(municipal, bal_m)
    d = share(district, bal_d, cost * district.ceiling_bp // 10_000 - m)
    split = split_with_rules(cost, kind, payee, held)
    assert (split.by_level("municipal"), split.by_level("district")) == (m, d)
    assert split.team_pays_fen == cost - m - d


def test_an_ineligible_payee_gets_nothing_from_that_programme_but_from_others():
    only_lab_2 = Programme(1, "municipal", 5000, {}, frozenset({("lab", 2)}), None, None)
    anyone = Programme(2, "district", 2000, {}, None, None, 10_000)
    held = [Held(1, only_lab_2, 10**6, T0), Held(2, anyone, 10**6, T0)]
    assert reference(10_000, "instrument", ("lab", 1), held) == {2: 2_000}
    split = split_with_rules(10_000, "instrument", ("lab", 1), held)
    assert [(line.voucher_id, line.amount_fen) for line in split.lines] == [(2, 2_000)]
    at_lab_2 = split_with_rules(10_000, "instrument", ("lab", 2), held)
    assert [(line.voucher_id, line.amount_fen) for line in at_lab_2.lines] == [(1, 5_000), (2, 2_000)]


def test_the_rate_for_the_kind_replaces_the_rate_and_the_room_binds_across_vouchers():
    programme = Programme(1, "municipal", 3000, {"service": 8000, "compute": 0}, None, 7_001, None)
    held = [
        Held(5, programme, 4_000, T0 + timedelta(days=1)),
        Held(6, programme, 10**6, T0 + timedelta(days=2)),
    ]
    service = split_with_rules(10_001, "service", ("lab", 1), held)  # ⌊10,001 × 80%⌋ = 8,000 > room 7,001
    assert [(line.voucher_id, line.amount_fen) for line in service.lines] == [(5, 4_000), (6, 3_001)]
    assert split_with_rules(10_001, "compute", ("lab", 1), held).lines == ()  # 0% for compute
    instrument = split_with_rules(10_001, "instrument", ("lab", 1), held)  # falls back to rate_bp: 3,000
    assert sum(line.amount_fen for line in instrument.lines) == 3_000
