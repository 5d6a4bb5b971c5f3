"""The stacking split (PRODUCT.md, "Stacking: how a cost is split"), as pure functions.

Every expected number in the tables below is worked out by hand from the rule:

1. municipal first: m = min(floor(C × rate_m), municipal balance);
2. district on top: d = min(floor(C × rate_d), district balance, floor(C × stack_ceiling) − m), ≥ 0;
3. the team pays C − m − d.

Several vouchers of one level are drawn earliest-expiring first (ties: lowest id first); each
voucher's rate caps its level's running total, so a later voucher tops the level up to its rate.
Nothing here touches the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vouchers.split import Candidate, Split, SplitLine, VoucherBalance, split_cost, usable_vouchers

T0 = datetime(2026, 12, 1, tzinfo=UTC)
BIG = 10**9  # a balance that never binds in the tables

MUNICIPAL_PROGRAM = 10
DISTRICT_PROGRAM = 20


def day(n: int, hour: int = 0) -> datetime:
    return T0 + timedelta(days=n, hours=hour)


def mun(vid: int, rate_bp: int, balance: int = BIG, expires: int = 30, program: int = MUNICIPAL_PROGRAM):
    return VoucherBalance(vid, program, "municipal", rate_bp, balance, day(expires))


def dis(
    vid: int,
    rate_bp: int,
    balance: int = BIG,
    ceiling_bp: int | None = 10000,
    expires: int = 30,
    program: int = DISTRICT_PROGRAM,
):
    return VoucherBalance(vid, program, "district", rate_bp, balance, day(expires), ceiling_bp)


def line(voucher: VoucherBalance, position: int, amount: int) -> SplitLine:
    return SplitLine(voucher.voucher_id, voucher.program_id, voucher.level, position, amount)


def floor_share(cost: int, rate_bp: int) -> int:
    """floor(C × rate) written out independently of the code under test."""
    return (cost * rate_bp) // 10000


# ---------------------------------------------------------------------------------------------------
# split_cost, table-driven
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SplitCase:
    id: str
    cost: int
    vouchers: list[VoucherBalance]
    lines: list[tuple[int, int, int]]  # (voucher_id, position, amount) in application order
    team_pays: int


SPLIT_CASES = [
    SplitCase(
        "municipal only: 30% of 100.00 yuan",
        cost=10000,
        vouchers=[mun(1, 3000)],
        lines=[(1, 1, 3000)],
        team_pays=7000,
    ),
    SplitCase(
        "district only: 50% under a 70% ceiling",
        cost=10000,
        vouchers=[dis(2, 5000, ceiling_bp=7000)],
        lines=[(2, 1, 5000)],  # min(5000, 7000 − 0)
        team_pays=5000,
    ),
    SplitCase(
        "stacked: 30% + 50%, ceiling 100%",
        cost=10000,
        vouchers=[mun(1, 3000), dis(2, 5000)],
        lines=[(1, 1, 3000), (2, 2, 5000)],
        team_pays=2000,
    ),
    SplitCase(
        "stacked: 30% + 50%, ceiling 70% binds the district",
        cost=10000,
        vouchers=[mun(1, 3000), dis(2, 5000, ceiling_bp=7000)],
        lines=[(1, 1, 3000), (2, 2, 4000)],  # d = min(5000, 7000 − 3000)
        team_pays=3000,
    ),
    SplitCase(
        "stacked: 50% + 50%, ceiling 80% binds the district",
        cost=10000,
        vouchers=[mun(1, 5000), dis(2, 5000, ceiling_bp=8000)],
        lines=[(1, 1, 5000), (2, 2, 3000)],  # d = min(5000, 8000 − 5000)
        team_pays=2000,
    ),
    SplitCase(
        "no ceiling given: the default 100% caps m + d",
        cost=10000,
        vouchers=[mun(1, 6000), dis(2, 6000, ceiling_bp=None)],
        lines=[(1, 1, 6000), (2, 2, 4000)],  # d = min(6000, 10000 − 6000)
        team_pays=0,
    ),
    SplitCase(
        "ceiling below the municipal share: district gets nothing, municipal is not cut",
        cost=10000,
        vouchers=[mun(1, 5000), dis(2, 3000, ceiling_bp=4000)],
        lines=[(1, 1, 5000)],  # d = max(0, min(3000, 4000 − 5000)) = 0 → no line
        team_pays=5000,
    ),
    SplitCase(
        "municipal balance binds; district still capped by its own rate",
        cost=10000,
        vouchers=[mun(1, 5000, balance=1000), dis(2, 4000, ceiling_bp=8000)],
        lines=[(1, 1, 1000), (2, 2, 4000)],  # m = min(5000, 1000); d = min(4000, 8000 − 1000)
        team_pays=5000,
    ),
    SplitCase(
        "municipal balance binds; district capped by the ceiling minus the actual m",
        cost=10000,
        vouchers=[mun(1, 5000, balance=2000), dis(2, 7000, ceiling_bp=8000)],
        lines=[(1, 1, 2000), (2, 2, 6000)],  # m = 2000; d = min(7000, 8000 − 2000)
        team_pays=2000,
    ),
    SplitCase(
        "district balance binds",
        cost=10000,
        vouchers=[mun(1, 3000), dis(2, 5000, balance=1234)],
        lines=[(1, 1, 3000), (2, 2, 1234)],
        team_pays=5766,
    ),
    SplitCase(
        "municipal applied first even when the district voucher expires earlier",
        cost=10000,
        vouchers=[dis(2, 5000, ceiling_bp=7000, expires=1), mun(1, 3000, expires=90)],
        lines=[(1, 1, 3000), (2, 2, 4000)],
        team_pays=3000,
    ),
    SplitCase(
        "two municipal: the earlier-expiring one is used first and covers the whole rate",
        cost=10000,
        vouchers=[mun(1, 3000, balance=1000, expires=20), mun(2, 3000, balance=5000, expires=10)],
        lines=[(2, 1, 3000)],  # voucher 1 has no room left under the 30% rate
        team_pays=7000,
    ),
    SplitCase(
        "two municipal: the earlier one runs out, the second tops up to the rate",
        cost=10000,
        vouchers=[mun(2, 3000, balance=5000, expires=20), mun(1, 3000, balance=1000, expires=10)],
        lines=[(1, 1, 1000), (2, 2, 2000)],  # 1000, then min(5000, 3000 − 1000)
        team_pays=7000,
    ),
    SplitCase(
        "two municipal expiring together: lower id first",
        cost=10000,
        vouchers=[mun(5, 3000, balance=2500, expires=10), mun(3, 3000, balance=2500, expires=10)],
        lines=[(3, 1, 2500), (5, 2, 500)],
        team_pays=7000,
    ),
    SplitCase(
        "two municipal, both run out before the rate is reached",
        cost=10000,
        vouchers=[mun(1, 3000, balance=1000, expires=10), mun(2, 3000, balance=700, expires=11)],
        lines=[(1, 1, 1000), (2, 2, 700)],
        team_pays=8300,
    ),
    SplitCase(
        "two district after one municipal: earlier district first, second tops up",
        cost=10000,
        vouchers=[
            dis(4, 4000, expires=8),
            mun(1, 3000),
            dis(3, 4000, balance=700, expires=5),
        ],
        # m 3000; d3 min(700, 4000, 10000 − 3000); d4 min(4000 − 700, 10000 − 3000 − 700)
        lines=[(1, 1, 3000), (3, 2, 700), (4, 3, 3300)],
        team_pays=3000,
    ),
    SplitCase(
        "two of each with the stack ceiling binding the second district voucher",
        cost=10000,
        vouchers=[
            dis(14, 5000, ceiling_bp=7000, expires=7),
            mun(12, 4000, expires=9),
            dis(13, 5000, balance=1500, ceiling_bp=7000, expires=3),
            mun(11, 4000, balance=2000, expires=5),
        ],
        # m: 2000, then min(BIG, 4000 − 2000) → m = 4000
        # d: min(1500, 5000, 7000 − 4000) = 1500, then min(5000 − 1500, 7000 − 4000 − 1500) = 1500
        lines=[(11, 1, 2000), (12, 2, 2000), (13, 3, 1500), (14, 4, 1500)],
        team_pays=3000,
    ),
    SplitCase(
        "zero cost (public-interest, free): no lines, team pays 0",
        cost=0,
        vouchers=[mun(1, 3000), dis(2, 5000, ceiling_bp=7000)],
        lines=[],
        team_pays=0,
    ),
    SplitCase(
        "no vouchers: the team pays everything",
        cost=12345,
        vouchers=[],
        lines=[],
        team_pays=12345,
    ),
    SplitCase(
        "odd fen: C = 10001 at 33.33% + 33.33% under 66.67%, subsidies floor",
        cost=10001,
        vouchers=[mun(1, 3333), dis(2, 3333, ceiling_bp=6667)],
        # floor(3333.3333) = 3333; d = min(3333, floor(6667.6667) − 3333 = 3334)
        lines=[(1, 1, 3333), (2, 2, 3333)],
        team_pays=3335,
    ),
    SplitCase(
        "odd fen: C = 10001, ceiling 75% floors before m is taken off",
        cost=10001,
        vouchers=[mun(1, 5000), dis(2, 5000, ceiling_bp=7500)],
        # m = floor(5000.5) = 5000; d = min(5000, floor(7500.75) − 5000) = 2500
        lines=[(1, 1, 5000), (2, 2, 2500)],
        team_pays=2501,
    ),
    SplitCase(
        "odd fen: C = 199 at 50% + 50%, the team pays the rounding fen",
        cost=199,
        vouchers=[mun(1, 5000), dis(2, 5000)],
        # m = floor(99.5) = 99; d = min(99, 199 − 99) = 99
        lines=[(1, 1, 99), (2, 2, 99)],
        team_pays=1,
    ),
    SplitCase(
        "one fen at 99.99%: the share floors to 0, no line",
        cost=1,
        vouchers=[mun(1, 9999), dis(2, 9999)],
        lines=[],
        team_pays=1,
    ),
    SplitCase(
        "zero-balance voucher contributes nothing; the next one of its level is used",
        cost=10000,
        vouchers=[mun(1, 3000, balance=0, expires=5), mun(2, 3000, expires=9), dis(3, 2000, balance=0)],
        lines=[(2, 1, 3000)],
        team_pays=7000,
    ),
]


@pytest.mark.parametrize("case", SPLIT_CASES, ids=[c.id for c in SPLIT_CASES])
def test_split_cost_table(case: SplitCase):
    by_id = {v.voucher_id: v for v in case.vouchers}
    split = split_cost(case.cost, list(case.vouchers))

    expected = tuple(line(by_id[vid], position, amount) for vid, position, amount in case.lines)
    assert split.lines == expected
    assert split.total_fen == case.cost
    assert split.team_pays_fen == case.team_pays
    assert split.by_level("municipal") + split.by_level("district") + split.team_pays_fen == case.cost
    assert all(type(ln.amount_fen) is int for ln in split.lines)


def test_lines_carry_voucher_programme_level_and_position():
    vouchers = [
        dis(77, 5000, ceiling_bp=7000, program=702),
        mun(55, 3000, program=501),
    ]
    split = split_cost(10000, vouchers)
    assert split.lines == (
        SplitLine(voucher_id=55, program_id=501, level="municipal", position=1, amount_fen=3000),
        SplitLine(voucher_id=77, program_id=702, level="district", position=2, amount_fen=4000),
    )
    assert split.subsidy_fen == 7000
    assert split.by_level("municipal") == 3000
    assert split.by_level("district") == 4000


def test_negative_cost_is_refused():
    with pytest.raises(ValueError):
        split_cost(-1, [mun(1, 3000)])


# ---------------------------------------------------------------------------------------------------
# usable_vouchers + split_cost, table-driven
# ---------------------------------------------------------------------------------------------------

TEAM_DISTRICT = "500106"  # 沙坪坝区
OTHER_DISTRICT = "500108"  # 南岸区
TEAM_ORG = 100  # the team's own company
LAB_ORG = 200  # 重庆大学: the team's founders study there, but it is another organisation
USE_ENDS = day(1)  # `until`: the end of the use


def cand(
    balance: VoucherBalance,
    status: str = "active",
    kinds: frozenset[str] = frozenset({"compute", "instrument"}),
    district_code: str | None = "auto",
) -> Candidate:
    if district_code == "auto":
        district_code = TEAM_DISTRICT if balance.level == "district" else None
    return Candidate(balance=balance, status=status, kinds=kinds, district_code=district_code)


@dataclass(frozen=True)
class EligibilityCase:
    id: str
    candidates: list[Candidate]
    usable_ids: list[int]
    lines: list[tuple[int, int, int]]  # (voucher_id, position, amount)
    team_pays: int
    kind: str = "compute"
    payee_org: int | None = LAB_ORG


M1 = mun(1, 3000)
D2 = dis(2, 5000, ceiling_bp=7000)
# With both M1 and D2 on C = 10000: m 3000, d min(5000, 7000 − 3000) = 4000, team 3000.
# With D2 alone: d min(5000, 7000) = 5000, team 5000. With M1 alone: m 3000, team 7000.

ELIGIBILITY_CASES = [
    EligibilityCase(
        "both active and eligible",
        candidates=[cand(M1), cand(D2)],
        usable_ids=[1, 2],
        lines=[(1, 1, 3000), (2, 2, 4000)],
        team_pays=3000,
    ),
    EligibilityCase(
        "expired municipal (status) ignored: district alone, ceiling minus m = 0",
        candidates=[cand(M1, status="expired"), cand(D2)],
        usable_ids=[2],
        lines=[(2, 1, 5000)],
        team_pays=5000,
    ),
    EligibilityCase(
        "active municipal that expires before the use ends is ignored",
        candidates=[cand(M1._replace(expires_at=USE_ENDS - timedelta(minutes=1))), cand(D2)],
        usable_ids=[2],
        lines=[(2, 1, 5000)],
        team_pays=5000,
    ),
    EligibilityCase(
        "of two municipal vouchers, the one expiring mid-use is skipped, not drawn first",
        candidates=[
            cand(mun(3, 3000, expires=0)),  # expires at T0, the use ends at T0 + 1 day
            cand(mun(4, 3000, balance=1200, expires=5)),
            cand(D2),
        ],
        usable_ids=[4, 2],
        lines=[(4, 1, 1200), (2, 2, 5000)],  # d = min(5000, 7000 − 1200)
        team_pays=3800,
    ),
    EligibilityCase(
        "a voucher is valid through its expiry instant: expiring exactly when the use ends, it pays",
        candidates=[cand(M1._replace(expires_at=USE_ENDS)), cand(D2._replace(expires_at=USE_ENDS))],
        usable_ids=[1, 2],
        lines=[(1, 1, 3000), (2, 2, 4000)],
        team_pays=3000,
    ),
    EligibilityCase(
        "expiring one microsecond before the use ends, it does not",
        candidates=[cand(M1._replace(expires_at=USE_ENDS - timedelta(microseconds=1))), cand(D2)],
        usable_ids=[2],
        lines=[(2, 1, 5000)],
        team_pays=5000,
    ),
    EligibilityCase(
        "a municipal voucher with a 1-fen balance pays its fen; the district tops up to its rate",
        candidates=[cand(mun(1, 3000, balance=1)), cand(D2)],
        usable_ids=[1, 2],
        lines=[(1, 1, 1), (2, 2, 5000)],  # d = min(5000, 7000 − 1)
        team_pays=4999,
    ),
    EligibilityCase(
        "a district voucher with a 1-fen balance pays its fen on top of the municipal share",
        candidates=[cand(M1), cand(dis(2, 5000, balance=1, ceiling_bp=7000))],
        usable_ids=[1, 2],
        lines=[(1, 1, 3000), (2, 2, 1)],
        team_pays=6999,
    ),
    EligibilityCase(
        "revoked municipal ignored",
        candidates=[cand(M1, status="revoked"), cand(D2)],
        usable_ids=[2],
        lines=[(2, 1, 5000)],
        team_pays=5000,
    ),
    EligibilityCase(
        "municipal programme covers instruments only: ignored for compute",
        candidates=[cand(M1, kinds=frozenset({"instrument"})), cand(D2)],
        usable_ids=[2],
        lines=[(2, 1, 5000)],
        team_pays=5000,
    ),
    EligibilityCase(
        "district programme covers compute only: ignored for an instrument",
        kind="instrument",
        candidates=[cand(M1), cand(D2, kinds=frozenset({"compute"}))],
        usable_ids=[1],
        lines=[(1, 1, 3000)],
        team_pays=7000,
    ),
    EligibilityCase(
        "another district's voucher ignored",
        candidates=[cand(M1), cand(D2, district_code=OTHER_DISTRICT)],
        usable_ids=[1],
        lines=[(1, 1, 3000)],
        team_pays=7000,
    ),
    EligibilityCase(
        "self-dealing: the payee is the team's own organisation, no subsidy at all",
        payee_org=TEAM_ORG,
        candidates=[cand(M1), cand(D2)],
        usable_ids=[],
        lines=[],
        team_pays=10000,
    ),
    EligibilityCase(
        "sharing a university is not self-dealing (the lab's organisation differs)",
        payee_org=LAB_ORG,
        candidates=[cand(M1), cand(D2)],
        usable_ids=[1, 2],
        lines=[(1, 1, 3000), (2, 2, 4000)],
        team_pays=3000,
    ),
    EligibilityCase(
        "zero-balance municipal voucher contributes nothing",
        candidates=[cand(mun(1, 3000, balance=0)), cand(D2)],
        usable_ids=[2],
        lines=[(2, 1, 5000)],
        team_pays=5000,
    ),
    EligibilityCase(
        "nothing eligible: the team pays everything",
        candidates=[
            cand(M1, status="expired"),
            cand(D2, district_code=OTHER_DISTRICT),
            cand(mun(3, 3000), kinds=frozenset({"instrument"})),
            cand(dis(4, 5000), status="revoked"),
        ],
        usable_ids=[],
        lines=[],
        team_pays=10000,
    ),
]


@pytest.mark.parametrize("case", ELIGIBILITY_CASES, ids=[c.id for c in ELIGIBILITY_CASES])
def test_usable_vouchers_then_split(case: EligibilityCase):
    usable = usable_vouchers(
        case.candidates,
        kind=case.kind,
        team_district_code=TEAM_DISTRICT,
        team_organization_id=TEAM_ORG,
        payee_organization_id=case.payee_org,
        until=USE_ENDS,
    )
    assert sorted(v.voucher_id for v in usable) == sorted(case.usable_ids)

    by_id = {c.balance.voucher_id: c.balance for c in case.candidates}
    split = split_cost(10000, usable)
    expected = tuple(line(by_id[vid], position, amount) for vid, position, amount in case.lines)
    assert split.lines == expected
    assert split.team_pays_fen == case.team_pays


def test_a_one_fen_balance_pays_only_where_the_share_reaches_a_fen():
    """floor(C × 30%) is 0 fen for C = 3 and 1 fen for C = 4: the 1-fen voucher pays nothing, then
    its whole balance, and never more; the next voucher of the level tops up to the rate."""
    one_fen = mun(1, 3000, balance=1, expires=1)
    assert split_cost(3, [one_fen]).lines == ()
    assert split_cost(4, [one_fen]).lines == (line(one_fen, 1, 1),)
    assert split_cost(10, [one_fen]).lines == (line(one_fen, 1, 1),)  # floor(3) but only 1 held
    after = mun(2, 3000, expires=2)
    assert split_cost(10, [after, one_fen]).lines == (line(one_fen, 1, 1), line(after, 2, 2))


# ---------------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------------

PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

costs = st.integers(min_value=0, max_value=10**9)
rates = st.integers(min_value=1, max_value=10000)
balances = st.one_of(st.integers(min_value=0, max_value=10**9), st.integers(min_value=0, max_value=5000))
ceilings = st.one_of(st.none(), st.integers(min_value=1, max_value=10000))
# few distinct instants, so equal expiries (and the id tie-break) happen often
expiries = st.builds(day, st.integers(min_value=0, max_value=4), st.sampled_from([0, 12]))


@st.composite
def voucher_sets(draw, max_municipal: int = 4, max_district: int = 4):
    n_m = draw(st.integers(min_value=0, max_value=max_municipal))
    n_d = draw(st.integers(min_value=0, max_value=max_district))
    ids = draw(st.permutations(list(range(1, n_m + n_d + 1))))  # unique ids, unrelated to level
    vouchers = []
    for i, vid in enumerate(ids):
        level = "municipal" if i < n_m else "district"
        vouchers.append(
            VoucherBalance(
                voucher_id=vid,
                program_id=draw(st.integers(min_value=1, max_value=6)),
                level=level,
                rate_bp=draw(rates),
                available_fen=draw(balances),
                expires_at=draw(expiries),
                stack_ceiling_bp=draw(ceilings) if level == "district" else None,
            )
        )
    return vouchers


def _ceiling(v: VoucherBalance) -> int:
    return 10000 if v.stack_ceiling_bp is None else v.stack_ceiling_bp


@PROPERTY_SETTINGS
@given(cost=costs, vouchers=voucher_sets())
def test_split_invariants(cost, vouchers):
    split = split_cost(cost, vouchers)
    by_id = {v.voucher_id: v for v in vouchers}
    lines = split.lines

    # positive integer amounts; each line a distinct input voucher with its programme and level
    assert all(type(ln.amount_fen) is int and ln.amount_fen > 0 for ln in lines)
    assert len({ln.voucher_id for ln in lines}) == len(lines)
    for ln in lines:
        v = by_id[ln.voucher_id]
        assert (ln.program_id, ln.level) == (v.program_id, v.level)
        assert ln.amount_fen <= v.available_fen

    # municipal before district, positions 1..n
    levels = [ln.level for ln in lines]
    assert levels == sorted(levels, key=lambda level: level != "municipal")
    assert [ln.position for ln in lines] == list(range(1, len(lines) + 1))

    # within a level, earliest-expiring first, ties by id
    for level in ("municipal", "district"):
        keys = [(by_id[ln.voucher_id].expires_at, ln.voucher_id) for ln in lines if ln.level == level]
        assert keys == sorted(keys)

    municipal = [ln for ln in lines if ln.level == "municipal"]
    district = [ln for ln in lines if ln.level == "district"]
    m = sum(ln.amount_fen for ln in municipal)
    d = sum(ln.amount_fen for ln in district)

    # each voucher's rate caps its level's running total; the district ceiling caps m + running d
    muni_rates = [v.rate_bp for v in vouchers if v.level == "municipal"]
    if muni_rates:
        assert m <= floor_share(cost, max(muni_rates))
    running = 0
    for ln in municipal:
        running += ln.amount_fen
        assert running <= floor_share(cost, by_id[ln.voucher_id].rate_bp)
    running = 0
    for ln in district:
        running += ln.amount_fen
        v = by_id[ln.voucher_id]
        assert running <= floor_share(cost, v.rate_bp)
        assert m + running <= floor_share(cost, _ceiling(v))

    district_vouchers = [v for v in vouchers if v.level == "district"]
    if len(district_vouchers) == 1 and d > 0:
        assert m + d <= floor_share(cost, _ceiling(district_vouchers[0]))

    # money adds up
    assert m + d <= cost
    assert split.total_fen == cost
    assert split.team_pays_fen == cost - m - d >= 0
    assert split.subsidy_fen == m + d


@PROPERTY_SETTINGS
@given(data=st.data(), cost=costs, vouchers=voucher_sets())
def test_split_is_deterministic_and_ignores_input_order(data, cost, vouchers):
    first = split_cost(cost, vouchers)
    assert split_cost(cost, list(vouchers)) == first
    shuffled = data.draw(st.permutations(vouchers))
    assert split_cost(cost, list(shuffled)) == first


@PROPERTY_SETTINGS
@given(
    cost=costs,
    rate_m=rates,
    bal_m=balances,
    rate_d=rates,
    bal_d=balances,
    ceiling=ceilings,
    exp_m=expiries,
    exp_d=expiries,
)
def test_one_of_each_matches_the_closed_form(cost, rate_m, bal_m, rate_d, bal_d, ceiling, exp_m, exp_d):
    municipal = VoucherBalance(1, MUNICIPAL_PROGRAM, "municipal", rate_m, bal_m, exp_m)
    district = VoucherBalance(2, DISTRICT_PROGRAM, "district", rate_d, bal_d, exp_d, ceiling)

    m = min(floor_share(cost, rate_m), bal_m)
    ceiling_bp = 10000 if ceiling is None else ceiling
    d = max(0, min(floor_share(cost, rate_d), bal_d, floor_share(cost, ceiling_bp) - m))

    expected = []
    if m > 0:
        expected.append(SplitLine(1, MUNICIPAL_PROGRAM, "municipal", len(expected) + 1, m))
    if d > 0:
        expected.append(SplitLine(2, DISTRICT_PROGRAM, "district", len(expected) + 1, d))

    split = split_cost(cost, [district, municipal])
    assert split == Split(cost, tuple(expected))
    assert split.team_pays_fen == cost - m - d


@PROPERTY_SETTINGS
@given(
    cost=costs,
    rate=rates,
    level_balances=st.lists(balances, min_size=1, max_size=4),
    level_expiries=st.lists(expiries, min_size=4, max_size=4),
)
def test_vouchers_of_one_rate_top_each_other_up(cost, rate, level_balances, level_expiries):
    """Several municipal vouchers of one programme act as one pooled balance: min(floor(C × r), Σ)."""
    vouchers = [
        VoucherBalance(i + 1, MUNICIPAL_PROGRAM, "municipal", rate, bal, level_expiries[i])
        for i, bal in enumerate(level_balances)
    ]
    split = split_cost(cost, vouchers)
    assert split.by_level("municipal") == min(floor_share(cost, rate), sum(level_balances))
    assert split.team_pays_fen == cost - split.by_level("municipal")


@st.composite
def candidate_sets(draw):
    vouchers = draw(voucher_sets())
    candidates = []
    for v in vouchers:
        candidates.append(
            Candidate(
                balance=v,
                status=draw(st.sampled_from(["active", "active", "expired", "revoked"])),
                kinds=draw(
                    st.sampled_from(
                        [
                            frozenset({"compute"}),
                            frozenset({"instrument"}),
                            frozenset({"compute", "instrument"}),
                        ]
                    )
                ),
                district_code=None
                if v.level == "municipal"
                else draw(st.sampled_from([TEAM_DISTRICT, OTHER_DISTRICT])),
            )
        )
    return candidates


@PROPERTY_SETTINGS
@given(
    candidates=candidate_sets(),
    kind=st.sampled_from(["compute", "instrument"]),
    payee_org=st.sampled_from([TEAM_ORG, LAB_ORG, 300]),
    # never exactly on an expiry instant: PRODUCT.md does not say whether that boundary counts
    until=expiries.map(lambda t: t + timedelta(minutes=30)),
)
def test_usable_vouchers_keep_exactly_the_eligible(candidates, kind, payee_org, until):
    usable = usable_vouchers(
        candidates,
        kind=kind,
        team_district_code=TEAM_DISTRICT,
        team_organization_id=TEAM_ORG,
        payee_organization_id=payee_org,
        until=until,
    )
    if payee_org == TEAM_ORG:
        assert usable == []
        return
    eligible = {
        c.balance.voucher_id
        for c in candidates
        if c.status == "active"
        and kind in c.kinds
        and c.balance.expires_at >= until
        and c.balance.available_fen > 0
        and (c.balance.level == "municipal" or c.district_code == TEAM_DISTRICT)
    }
    assert {v.voucher_id for v in usable} == eligible
    assert len(usable) == len(eligible)
