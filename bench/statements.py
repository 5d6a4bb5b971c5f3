"""Finance reports benchmark: statements over 100,000 settled bookings and the dashboard over
1,000,000 postings.

Builds a fresh database (SQLite file in a temporary directory, or the PostgreSQL database named by
``BENCH_DATABASE_URL``; see bench/README.md) with real programmes, teams in two districts, one lab
and providers, then bulk-inserts (Core executemany) BENCH_SETTLED (default 100,000) settled compute
bookings with their settlements in one month, and BENCH_POSTINGS (default 1,000,000) settle
postings (payable ← committed) spread over 12 months. It then measures

  (a) the monthly statement as JSON rows, CSV and XLSX (streamed), municipal scope and one district,
      the statement lines (one row per booking) as CSV and XLSX, and the peak RSS of the process
      (target < 200 MiB);
  (b) ``vouchers.dashboard.dashboard`` (target ≤ 200 ms, median of BENCH_REPEATS runs).

Run ``python -m bench.statements``.
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from flask_babel import force_locale
from sqlalchemy import insert, select

from bench.availability import migrated_app
from booking.core import clock
from booking.core.db import db, write_intent
from booking.flow import compute
from booking.models import Booking, User
from booking.people import teams
from booking.people.accounts import create_user
from booking.people.providers import create_provider
from vouchers import dashboard, ledger, programs
from vouchers.models import JournalTransaction, Posting, Settlement
from vouchers.reports import files, statement_lines, statements
from vouchers.settling import add_settlement_totals

SETTLED = int(os.environ.get("BENCH_SETTLED", "100000"))
POSTINGS = int(os.environ.get("BENCH_POSTINGS", "1000000"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "30"))
PROVIDERS = 20
TEAMS = 100
T0 = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
PERIOD = "2026-12"
RSS_TARGET_MIB = 200
DASHBOARD_TARGET_MS = 200
CHUNK = 10_000


def log(message: str) -> None:
    print(message, flush=True)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def build() -> User:
    with write_intent(), clock.frozen_at(T0):
        officer = create_user(email="m@bench.cn", password="bench-password", name="M", role="finance")
        program = programs.create_program(
            officer,
            name="市级算力券",
            level="municipal",
            resource_kinds=["compute"],
            rate_bp=3000,
            budget_fen=10**13,
            per_team_cap_fen=10**12,
            valid_from=date(2026, 1, 1),
            valid_to=date(2027, 12, 31),
            voucher_validity_days=365,
        )
        providers = [
            create_provider(name=f"算力 {i}", organization=f"算力公司 {i}") for i in range(PROVIDERS)
        ]
        offers = [
            compute.create_offer(
                p, name="A100", gpu_model="A100", gpus_total=64, price_per_gpu_hour_fen=1_000
            )
            for p in providers
        ]
        team_ids = []
        for i in range(TEAMS):
            owner = create_user(
                email=f"f{i}@bench.cn", password="bench-password", name=f"F{i}", role="founder"
            )
            team = teams.create_team(
                owner,
                name=f"Team {i}",
                university="重庆大学",
                district_code="500106" if i % 2 else "500103",
                organization=f"Startup {i}",
            )
            team_ids.append((team.id, owner.id))
        committed = ledger.account("committed", program.id)
        payables = [ledger.account("payable", program.id, payee=("provider", p.id)) for p in providers]
        db.session.commit()
        program_id, committed_id = program.id, committed.id
        payable_ids = [a.id for a in payables]
        offer_ids = [(o.id, p.id) for o, p in zip(offers, providers, strict=True)]

    started = time.perf_counter()
    for base in range(0, SETTLED, CHUNK):
        n = min(CHUNK, SETTLED - base)
        bookings = []
        for k in range(base, base + n):
            team_id, owner_id = team_ids[k % TEAMS]
            offer_id, _ = offer_ids[k % PROVIDERS]
            starts = T0 + timedelta(minutes=k)
            bookings.append(
                {
                    "team_id": team_id,
                    "kind": "compute",
                    "offer_id": offer_id,
                    "gpus": 1,
                    "starts_at": starts,
                    "ends_at": starts + timedelta(hours=1),
                    "status": "settled",
                    "estimated_cost_fen": 1_000,
                    "created_by_id": owner_id,
                    "created_at": T0,
                }
            )
        ids = list(
            db.session.scalars(insert(Booking).returning(Booking.id, sort_by_parameter_order=True), bookings)
        )
        db.session.execute(
            insert(Settlement),
            [
                {
                    "booking_id": booking_id,
                    "settled_at": T0,
                    "period": PERIOD,
                    "payee_kind": "provider",
                    "payee_id": offer_ids[k % PROVIDERS][1],
                    "actual_cost_fen": 1_000 + k % 500,
                    "municipal_fen": 300,
                    "district_fen": 0,
                    "subsidy_fen": 300,
                    "team_fen": 700 + k % 500,
                    "fee_fen": 0,
                }
                for k, booking_id in zip(range(base, base + n), ids, strict=True)
            ],
        )
        add_settlement_totals(  # maintained with the settlements, as reconciliation does
            (PERIOD, team_ids[k % TEAMS][0], "provider", offer_ids[k % PROVIDERS][1], 300, 0)
            for k in range(base, base + n)
        )
        db.session.commit()
    log(f"  {SETTLED:,} settled bookings inserted in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    for base in range(0, POSTINGS // 2, CHUNK):
        n = min(CHUNK, POSTINGS // 2 - base)
        periods = [f"2026-{1 + (k % 12):02d}" for k in range(base, base + n)]
        tx_ids = list(
            db.session.scalars(
                insert(JournalTransaction).returning(JournalTransaction.id, sort_by_parameter_order=True),
                [
                    {"kind": "settle", "occurred_at": T0, "period": p, "program_id": program_id, "memo": ""}
                    for p in periods
                ],
            )
        )
        rows = []
        totals: dict[tuple[int, str, str], int] = defaultdict(int)
        for k, tx_id in zip(range(base, base + n), tx_ids, strict=True):
            payable_id, period = payable_ids[k % PROVIDERS], periods[k - base]
            rows.append({"transaction_id": tx_id, "account_id": committed_id, "amount_fen": -300})
            rows.append({"transaction_id": tx_id, "account_id": payable_id, "amount_fen": 300})
            totals[(committed_id, period, "settle")] -= 300
            totals[(payable_id, period, "settle")] += 300
        db.session.execute(insert(Posting), rows)
        ledger.add_period_totals(totals)  # maintained with the postings, as ledger.post does
        db.session.commit()
    log(f"  {POSTINGS:,} postings inserted in {time.perf_counter() - started:.1f} s")
    if db.engine.dialect.name == "postgresql":
        db.session.execute(db.text("ANALYZE"))
    else:
        db.session.execute(db.text("ANALYZE"))
    db.session.commit()
    return db.session.scalar(select(User).where(User.email == "m@bench.cn"))


def timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return (time.perf_counter() - started) * 1000, result


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp, migrated_app(tmp) as app:
        log(f"{db.engine.dialect.name}: building")
        officer = build()
        client = app.test_client()
        from booking.people import accounts

        token = accounts.issue_token(officer, timedelta(days=1))[1]
        db.session.commit()
        headers = {"Authorization": f"Bearer {token}"}
        rss_before = peak_rss_mib()
        for fmt in ("json", "csv", "xlsx"):
            started = time.perf_counter()
            response = client.get(
                f"/api/v1/finance/statements?period={PERIOD}&format={fmt}",
                headers=headers,
                buffered=False,
            )
            size = sum(len(chunk) for chunk in response.response)
            response.close()
            log(
                f"statement {fmt} (municipal, {SETTLED:,} bookings): {response.status_code}, {size:,} bytes, "
                f"{(time.perf_counter() - started) * 1000:.0f} ms"
            )
        for layout in files.LAYOUTS:  # the API's columns, then the people's (the pages')
            for fmt, pieces in (("csv", statement_lines.lines_csv), ("xlsx", statement_lines.lines_xlsx)):
                started = time.perf_counter()
                with force_locale("zh_CN"):  # streamed, never held whole
                    size = sum(len(piece) for piece in pieces(officer, PERIOD, layout=layout))
                log(
                    f"statement lines {fmt}, {layout} layout (one row per booking, {SETTLED:,} bookings): "
                    f"{size:,} bytes, {(time.perf_counter() - started) * 1000:.0f} ms"
                )
        ms, rows = timed(lambda: statements.statement_rows(officer, PERIOD, "500106"))
        log(f"statement rows (district 500106 via teams join): {len(rows)} payees, {ms:.0f} ms")
        peak = peak_rss_mib()
        log(
            f"peak RSS after the exports: {peak:.0f} MiB (before them {rss_before:.0f} MiB; "
            f"target < {RSS_TARGET_MIB} MiB, {peak / RSS_TARGET_MIB:.2f}x)"
        )
        dashboard.dashboard(officer)  # warm-up
        times = []
        for _ in range(REPEATS):
            db.session.expire_all()
            ms, _ = timed(lambda: dashboard.dashboard(officer))
            times.append(ms)
        times.sort()
        median = statistics.median(times)
        p95 = times[int(len(times) * 0.95) - 1]
        log(
            f"dashboard ({POSTINGS:,} postings, {SETTLED:,} settlements): median {median:.0f} ms, "
            f"p95 {p95:.0f} ms (target {DASHBOARD_TARGET_MS} ms, {median / DASHBOARD_TARGET_MS:.2f}x; n={REPEATS})"
        )
        failed = peak >= RSS_TARGET_MIB or median > DASHBOARD_TARGET_MS
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
