"""Command-line entry points: ``flask --app wsgi users create ...`` (``db upgrade`` is Flask-Migrate's)."""

from __future__ import annotations

from datetime import datetime

import click
from flask import Flask
from flask.cli import AppGroup

from booking.core.db import db, write_intent
from booking.core.errors import DomainError
from booking.jobs import JOBS, run_job
from booking.jobs.scheduler import scheduler_cli
from booking.models import ROLES
from booking.people import accounts
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


def register_cli(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(jobs_cli)
    app.cli.add_command(ledger_cli)
    app.cli.add_command(scheduler_cli)
