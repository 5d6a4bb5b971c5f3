"""Voucher commitments of bookings: the split on the estimated cost is committed in the booking's own
transaction (a hold, like an encumbrance) and released when the booking will not be used."""

from __future__ import annotations

from functools import cache

from sqlalchemy import bindparam, insert, select

from booking.core.db import db
from booking.models import Booking
from vouchers import annual_caps, ledger
from vouchers.models import LedgerAccount, Program, Settlement, SubsidyLine, Voucher
from vouchers.split import Candidate, Split, VoucherBalance, split_cost, usable_vouchers


def payee_of(booking: Booking) -> tuple[str, int] | None:
    """Who a booking pays: the instrument's lab or the compute offer's provider (None: neither, and
    then only programmes open to any payee subsidise it; callers that know the payee pass it)."""
    if booking.instrument is not None:
        return ("lab", booking.instrument.lab_id)
    if booking.offer is not None:
        return ("provider", booking.offer.provider_id)
    return None


def _candidate(voucher: Voucher, available_fen: int, room_fen: int | None = None) -> Candidate:
    program = voucher.program
    return Candidate(
        balance=VoucherBalance(
            voucher_id=voucher.id,
            program_id=voucher.program_id,
            level=program.level,
            rate_bp=program.rate_bp,
            available_fen=available_fen,
            expires_at=voucher.expires_at,
            stack_ceiling_bp=program.stack_ceiling_bp,
            room_fen=room_fen,
        ),
        status=voucher.status,
        kinds=frozenset(program.resource_kinds),
        district_code=program.district_code,
        eligible_payees=program.payee_set,
        rate_bp_by_kind=program.rate_bp_by_kind,
    )


def _with_rooms(team_id: int, vouchers: list[Voucher], available: dict, starts_at, except_booking_id=None):
    """Candidates carrying their programme's annual room for the team (read after the locks)."""
    room = annual_caps.rooms(
        team_id,
        {v.program_id: v.program.annual_team_cap_fen for v in vouchers},
        starts_at,
        except_booking_id=except_booking_id,
    )
    return [_candidate(v, available.get(v.id, 0), room[v.program_id]) for v in vouchers]


COMMIT_KINDS = ("available", "committed")


# built once: every booking runs it (SQLAlchemy keeps the ORM's compiled state; bench/statement_cost.py)
@cache
def _active_vouchers():
    return (
        select(Voucher)
        .join(Program)
        .where(Voucher.team_id == bindparam("team_id"), Voucher.status == "active")
    )


_INSERT_LINES = insert(SubsidyLine.__table__)


def _candidates(
    team_id: int, starts_at, except_booking_id: int | None = None, accounts: dict | None = None
) -> list[Candidate]:
    """The team's active vouchers, their available and committed accounts locked in one statement
    (PostgreSQL: FOR UPDATE, id order), so the split is computed on the balances of this moment and
    no concurrent booking can commit the same money: it waits, then sees what is left and the team
    simply pays more. The programmes' annual rooms are read under the same locks (every booking of
    the team takes them). ``accounts`` receives the locked accounts by key, for the commit."""
    vouchers = list(db.session.scalars(_active_vouchers(), {"team_id": team_id}))
    if not vouchers:
        return []
    locked = ledger.lock_voucher_accounts({v.id: v.program_id for v in vouchers}, COMMIT_KINDS)
    if accounts is not None:
        accounts.update(locked)
    available = {
        v.id: locked[ledger.account_key("available", v.program_id, v.id)].balance_fen for v in vouchers
    }
    return _with_rooms(team_id, vouchers, available, starts_at, except_booking_id)


def preview_split(
    team,
    *,
    kind: str,
    cost_fen: int,
    payee_organization_id: int | None,
    until,
    use_vouchers: bool = True,
    payee: tuple[str, int] | None = None,
    starts_at=None,
) -> Split:
    """The split a booking would get now, without committing anything (for the confirm step of the
    booking form). Booking itself recomputes it on the balances of its own transaction."""
    if not use_vouchers or cost_fen == 0:
        return Split(cost_fen, ())
    vouchers = db.session.scalars(_active_vouchers(), {"team_id": team.id}).all()
    available = {
        account.voucher_id: account.balance_fen
        for account in db.session.scalars(
            select(LedgerAccount).where(
                LedgerAccount.voucher_id.in_([v.id for v in vouchers]), LedgerAccount.kind == "available"
            )
        )
    }
    candidates = _with_rooms(team.id, list(vouchers), available, starts_at or until)
    usable = usable_vouchers(
        candidates,
        kind=kind,
        team_district_code=team.district_code,
        team_organization_id=team.organization_id,
        payee_organization_id=payee_organization_id,
        until=until,
        payee=payee,
    )
    return split_cost(cost_fen, usable)


def _locked_split(
    booking: Booking,
    payee_organization_id: int | None,
    payee: tuple[str, int] | None = None,
    accounts: dict | None = None,
) -> Split:
    """The split of the booking's estimated cost on the team's vouchers, their accounts locked, under
    its programmes' rules: eligible payees (``payee``, by default the booking's lab or provider), the
    rate for the booking's kind, and the annual room per team by the booking's start date."""
    if not booking.use_vouchers or booking.estimated_cost_fen == 0:
        return Split(booking.estimated_cost_fen, ())
    usable = usable_vouchers(
        _candidates(booking.team_id, booking.starts_at, booking.id, accounts),
        kind=booking.kind,
        team_district_code=booking.team.district_code,
        team_organization_id=booking.team.organization_id,
        payee_organization_id=payee_organization_id,
        until=booking.ends_at,
        payee=payee or payee_of(booking),
    )
    return split_cost(booking.estimated_cost_fen, usable)


def commit_subsidy(
    booking: Booking, payee_organization_id: int | None, payee: tuple[str, int] | None = None
) -> Split:
    """Compute the booking's split on its estimated cost and commit each voucher's share. A new
    booking then shows its quote from the lines just written (``preload``: nothing read back; it has
    no settlement yet)."""
    accounts: dict = {}
    split = _locked_split(booking, payee_organization_id, payee, accounts)
    written = _commit(booking, split, {}, accounts)
    booking.preloaded_money = (sorted(written, key=lambda row: row.position), None)
    return split


def _commit(
    booking: Booking, split: Split, existing: dict[int, SubsidyLine], accounts: dict | None = None
) -> list[SubsidyLine]:
    """Move each line's share available → committed (one journal transaction per voucher, written
    together: ``ledger.post_all``), on the voucher's line of this booking (a new one, or
    ``existing``'s, which grows by it and quotes it). ``accounts``: the accounts ``_candidates``
    locked, by key. Returns the lines written, in the split's order: for a new booking (no
    ``existing``) they are written as plain rows and returned as transient ``SubsidyLine`` objects
    (outside the session: to quote from, not to change; ``lines_of`` reads the stored ones)."""
    accounts = accounts or {}

    def account(kind: str, program_id: int, voucher_id: int):
        key = ledger.account_key(kind, program_id, voucher_id)
        return accounts.get(key) or ledger.account(kind, program_id, voucher_id)

    ledger.post_all(
        "commit",
        [
            ledger.Movement(
                entries=[
                    (account("available", line.program_id, line.voucher_id), -line.amount_fen),
                    (account("committed", line.program_id, line.voucher_id), line.amount_fen),
                ],
                program_id=line.program_id,
                voucher_id=line.voucher_id,
                booking_id=booking.id,
            )
            for line in split.lines
        ],
    )
    if not existing:  # a new booking: its lines as plain rows in one INSERT, nothing read back
        fresh = [
            {
                "booking_id": booking.id,
                "voucher_id": line.voucher_id,
                "program_id": line.program_id,
                "level": line.level,
                "position": line.position,
                "committed_fen": line.amount_fen,
                "quoted_fen": line.amount_fen,
                "released_fen": 0,
                "settled_fen": 0,
            }
            for line in split.lines
        ]
        if fresh:
            db.session.execute(_INSERT_LINES, fresh)
        # what the response quotes: the same values, as (transient) lines outside the session
        return [SubsidyLine(**row) for row in fresh]
    written = []
    for line in split.lines:
        row = existing.get(line.voucher_id)
        if row is None:
            row = SubsidyLine(
                booking_id=booking.id,
                voucher_id=line.voucher_id,
                program_id=line.program_id,
                level=line.level,
                position=line.position,
                committed_fen=line.amount_fen,
                quoted_fen=line.amount_fen,
            )
            db.session.add(row)
        else:
            row.committed_fen += line.amount_fen
            row.quoted_fen = line.amount_fen
            row.position = line.position
        written.append(row)
    db.session.flush()
    return written


def lines_of(booking_id: int) -> list[SubsidyLine]:
    return list(
        db.session.scalars(
            select(SubsidyLine).where(SubsidyLine.booking_id == booking_id).order_by(SubsidyLine.position)
        )
    )


def release_booking(booking: Booking) -> int:
    """Release every outstanding commitment of a booking that will not be used (cancelled, rejected,
    no-show). Money goes back to the voucher, or to the programme if the voucher has ended since."""
    booking.__dict__.pop("preloaded_money", None)  # its lines change now: quote them afresh
    released = 0
    for line in lines_of(booking.id):
        outstanding = line.outstanding_fen
        if outstanding <= 0:
            continue
        voucher = line.voucher
        committed = ledger.account("committed", line.program_id, voucher.id)
        target = (
            ledger.account("available", line.program_id, voucher.id)
            if voucher.status == "active"
            else ledger.account("unissued", line.program_id)
        )
        ledger.transfer(
            "release",
            committed,
            target,
            outstanding,
            program_id=line.program_id,
            voucher_id=voucher.id,
            booking_id=booking.id,
        )
        line.released_fen += outstanding
        released += outstanding
    db.session.flush()
    return released


def requote(booking: Booking, payee_organization_id: int | None) -> Split:
    """A booking moved to another time (``booking.flow.reschedule``): what its old time committed is
    released and the split of its new estimated cost committed; the quote is replaced. A voucher keeps
    one line per booking (settlement reads them by voucher): a line the new split draws on again
    grows by the new amount, one it no longer draws on quotes 0."""
    release_booking(booking)
    existing = {line.voucher_id: line for line in lines_of(booking.id)}
    for line in existing.values():
        line.quoted_fen = 0
    split = _locked_split(booking, payee_organization_id)
    _commit(booking, split, existing)
    return split


def preload(bookings: list[Booking]) -> None:
    """For a page of bookings about to be shown: their subsidy lines and settlements in two queries
    instead of two or three per booking. Only for read-only views: what is preloaded is what
    ``quote`` and ``settlement`` then show for these objects."""
    ids = [b.id for b in bookings]
    if not ids:
        return
    lines: dict[int, list[SubsidyLine]] = {booking_id: [] for booking_id in ids}
    for line in db.session.scalars(
        select(SubsidyLine)
        .where(SubsidyLine.booking_id.in_(ids))
        .order_by(SubsidyLine.booking_id, SubsidyLine.position)
    ):
        lines[line.booking_id].append(line)
    settled = {
        s.booking_id: s for s in db.session.scalars(select(Settlement).where(Settlement.booking_id.in_(ids)))
    }
    for booking in bookings:
        booking.preloaded_money = (lines[booking.id], settled.get(booking.id))


def _lines(booking: Booking) -> list[SubsidyLine]:
    preloaded = getattr(booking, "preloaded_money", None)
    return preloaded[0] if preloaded is not None else lines_of(booking.id)


def _settlement_row(booking: Booking) -> Settlement | None:
    preloaded = getattr(booking, "preloaded_money", None)
    if preloaded is not None:
        return preloaded[1]
    return db.session.scalar(select(Settlement).where(Settlement.booking_id == booking.id))


def quote(booking: Booking) -> dict:
    """The booking's split on its estimated cost, as committed at booking, in the order it was
    applied. Settlement never changes it (a line it adds or draws more on is not quoted)."""
    subsidies = [
        {
            "voucher_id": x.voucher_id,
            "program_id": x.program_id,
            "level": x.level,
            "amount_fen": x.quoted_fen,
        }
        for x in _lines(booking)
        if x.quoted_fen
    ]
    subsidy = sum(s["amount_fen"] for s in subsidies)
    return {
        "total_fen": booking.estimated_cost_fen,
        "subsidies": subsidies,
        "team_pays_fen": booking.estimated_cost_fen - subsidy,
    }


def settlement(booking: Booking) -> dict | None:
    """The booking's split on its actual cost, once reconciliation has settled it."""
    settled = _settlement_row(booking)
    if settled is None:
        return None
    subsidies = [
        {
            "voucher_id": x.voucher_id,
            "program_id": x.program_id,
            "level": x.level,
            "amount_fen": x.settled_fen,
        }
        for x in _lines(booking)
        if x.settled_fen
    ]
    return {
        "total_fen": settled.actual_cost_fen,
        "subsidies": subsidies,
        "team_pays_fen": settled.team_fen,
        "fee_fen": settled.fee_fen,
        "period": settled.period,
        "settled_at": settled.settled_at,
    }


def shares(split: dict | None) -> dict | None:
    """A quote or settlement summed by level, as pages show it: total, municipal, district, team."""
    if split is None:
        return None
    by_level = {"municipal": 0, "district": 0}
    for line in split["subsidies"]:
        by_level[line["level"]] += line["amount_fen"]
    return {
        "total_fen": split["total_fen"],
        "municipal_fen": by_level["municipal"],
        "district_fen": by_level["district"],
        "team_pays_fen": split["team_pays_fen"],
        "period": split.get("period"),
    }
