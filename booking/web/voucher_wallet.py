"""A team's voucher wallet: each voucher's face value split into spent, committed, available and
returned, how long it is valid, and revocation by the issuing programme's finance office.

Revocation goes through ``vouchers.wallet``; a refused one rolls back and is shown beside its form.
"""

from __future__ import annotations

from flask import flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user

from booking.core.db import db
from booking.core.errors import DomainError
from booking.people import teams
from booking.web.access import page
from booking.web.blueprint import blp
from booking.web.voucher_forms import RevokeForm
from booking.web.vouchers import flash_unshown, render_page, show_error, usage_bar, valid_until
from vouchers import programs, wallet
from vouchers.models import Program


def _wallet_page(team_id: int, overrides: dict | None = None, status: int = 200):
    team = teams.team_for(current_user, team_id)  # members, its district's finance, municipal finance, admins
    rows = wallet.team_vouchers(current_user, team.id)
    revocable = {
        row["id"]
        for row in rows
        if row["status"] == "active"
        and programs.is_officer(current_user, db.session.get(Program, row["program_id"]))
    }
    overrides = overrides or {}
    revoke_forms = {
        voucher_id: overrides.get(voucher_id, {}).get("revoke")
        or RevokeForm(prefix=f"revoke-{voucher_id}", formdata=None)
        for voucher_id in revocable
    }
    flash_unshown(overrides, revoke_forms)
    return render_page(
        "vouchers/wallet.html",
        status,
        team=team,
        vouchers=[
            {**row, "bar": usage_bar(row), "valid_until": valid_until(row["expires_at"])} for row in rows
        ],
        revoke_forms=revoke_forms,
    )


@blp.route("/teams/<int:team_id>/vouchers")
@page()
def team_wallet(team_id: int):
    return _wallet_page(team_id)


@blp.route("/vouchers/<int:voucher_id>/revoke", methods=["POST"])
@page()
def voucher_revoke(voucher_id: int):
    voucher = wallet.voucher_for_officer(current_user, voucher_id)  # 404 / 403 before the form is read
    team_id = voucher.team_id
    form = RevokeForm(prefix=f"revoke-{voucher_id}")
    if not form.validate_on_submit():
        return _wallet_page(team_id, {voucher_id: {"revoke": form}}, 422)
    try:
        wallet.revoke(current_user, voucher_id, " ".join(form.reason.data.split()))
    except DomainError as error:
        show_error(form, error, {"reason": form.reason})
        return _wallet_page(team_id, {voucher_id: {"revoke": form}}, error.status)
    flash(_("Voucher revoked; what was not yet spent went back to the programme."), "success")
    return redirect(url_for("web.team_wallet", team_id=team_id))
