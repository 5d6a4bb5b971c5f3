"""Command-line entry points: ``flask --app wsgi users create ...``, ``demo load``, ... (``db upgrade`` is
Flask-Migrate's)."""

from __future__ import annotations

from datetime import datetime

import click
from flask import Flask
from flask.cli import AppGroup

from booking.core import sheets
from booking.core.db import db, write_intent
from booking.core.errors import DomainError
from booking.jobs import JOBS, demo, run_job
from booking.jobs.scheduler import scheduler_cli
from booking.models import ROLES
from booking.people import accounts
from vouchers.reports import beancount, journal
from vouchers.scope import PERIOD_RE
from vouchers.verify import ledger_breaches, ledger_size

users_cli = AppGroup("users", help="Manage user accounts.")


@users_cli.command("create")
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--role", type=click.Choice(ROLES), default="admin", show_default=True)
@click.option("--name", default=None, help="Display name (default: the e-mail's local part).")
@click.option("--district", "district_code", default=None, help="District code, for district finance.")
def create_user_command(email, password, role, name, district_code):
    """Create a user, e.g. the first admin."""
    try:
        with write_intent():
            user = accounts.create_user(
                email=email,
                password=password,
                name=name or email.split("@")[0],
                role=role,
                district_code=district_code,
            )
            db.session.commit()
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(error.message)
    click.echo(f"created user {user.id} <{user.email}> as {user.role}")


jobs_cli = AppGroup("jobs", help="Run scheduler jobs by hand.")


@jobs_cli.command("list")
def list_jobs_command():
    """The jobs and how often the scheduler runs them."""
    for job in JOBS.values():
        click.echo(f"{job.name:<20} every {job.every}  {job.description}")


@jobs_cli.command("run")
@click.argument("name", type=click.Choice(sorted(JOBS)))
@click.option("--now", "now", default=None, help="Run as of this ISO 8601 instant (with offset).")
def run_job_command(name, now):
    """Run one job once (backfills, replays, tests)."""
    instant = None
    if now is not None:
        try:
            instant = datetime.fromisoformat(now)
        except ValueError:
            raise click.BadParameter(
                "an ISO 8601 instant, e.g. 2026-12-01T09:00:00+08:00", param_hint="--now"
            )
        if instant.tzinfo is None:
            raise click.BadParameter("give the offset, e.g. +08:00", param_hint="--now")
    result = run_job(name, instant)
    click.echo(f"{name}: {result}")


ledger_cli = AppGroup("ledger", help="The double-entry voucher ledger.")


@ledger_cli.command("verify")
def verify_ledger_command():
    """Check every ledger invariant; exit non-zero and name each breach."""
    breaches = ledger_breaches()
    transactions, postings, accounts = ledger_size()
    if breaches:
        for breach in breaches:
            click.echo(f"BREACH: {breach}", err=True)
        raise SystemExit(1)
    click.echo(f"ledger OK: {transactions} transactions, {postings} postings, {accounts} accounts")


@ledger_cli.command("export")
@click.option("--period", required=True, help="The ledger period, YYYY-MM.")
@click.option(
    "--format", "fmt", type=click.Choice(["beancount", "csv"]), default="beancount", show_default=True
)
@click.option(
    "--output", type=click.Path(dir_okay=False, writable=True), default=None, help="File (default: stdout)."
)
def export_ledger_command(period, fmt, output):
    """Write one period's journal (every transaction and posting) as a beancount file (or CSV, one
    row per posting); the beancount file's balance assertions are the period's postings per account."""
    if not PERIOD_RE.match(period):
        raise click.BadParameter("a month, YYYY-MM", param_hint="--period")
    if fmt == "beancount":
        pieces = beancount.beancount_lines(period)
    else:
        pieces = sheets.csv_pieces(journal.POSTING_COLUMNS, journal.posting_values(period), bom=False)
    if output is None:
        for piece in pieces:
            click.echo(piece, nl=False)
        return
    with open(output, "w", encoding="utf-8", newline="") as handle:
        for piece in pieces:
            handle.write(piece)
    click.echo(f"wrote {output}", err=True)


demo_cli = AppGroup("demo", help="The demo world, for a development database.")


def _load_demo() -> list[tuple[str, str, str]]:
    try:
        with write_intent():
            made = demo.load_world()
            db.session.commit()
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(f"the demo world could not be built: {error.message}")
    return made


@demo_cli.command("load")
def load_demo_command():
    """Fill an empty database with a believable Chongqing world; print `email password role` per account."""
    refused = demo.refusal()
    if refused:
        raise click.ClickException(refused)
    click.echo("building the demo world (a few seconds) ...", err=True)
    made = _load_demo()
    click.echo("demo world loaded; the accounts follow as `email password role`:", err=True)
    for email, password, role in made:
        click.echo(f"{email} {password} {role}")


@demo_cli.command("first-start")
@click.option(
    "--demo/--no-demo", "load", default=True, help="Load the demo world into an empty embedded database."
)
@click.option("--url", default="http://127.0.0.1:5000/", show_default=True, help="Where the app will answer.")
def first_start_command(load, url):
    """What `make run` does before serving (after `db upgrade`): on the first start of an empty embedded
    SQLite database, load the demo world and print its accounts; always say where to sign in."""
    embedded = db.engine.dialect.name == "sqlite"
    empty = accounts.count_users() == 0
    if embedded and empty and load and demo.refusal() is None:
        click.echo("First start on an empty embedded database: loading the demo world (a few seconds) ...")
        click.echo("(Turn this off with `make run DEMO=0`; load it later with `flask --app wsgi demo load`.)")
        made = _load_demo()
        click.echo("\nDemo accounts (email password role); each password is new and shown only now:")
        for email, password, role in made:
            click.echo(f"  {email} {password} {role}")
        click.echo("Lost them? Stop the app, delete instance/booking.sqlite3 and `make run` again.")
    elif empty:
        click.echo("The database has no accounts yet. Create the first admin with")
        click.echo("  .venv/bin/flask --app wsgi users create admin@example.cn --role admin")
        if embedded and not load:
            click.echo("or load the demo world: .venv/bin/flask --app wsgi demo load")
    click.echo(f"\nSign in at {url}sign-in  (Ctrl-C stops the app and its scheduler).\n")


def register_cli(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(jobs_cli)
    app.cli.add_command(ledger_cli)
    app.cli.add_command(scheduler_cli)
    app.cli.add_command(demo_cli)
