"""Month-end for the finance offices: ``/finance/periods`` lists recent accounting months and closes
an ended one (municipal office and admins), ``/finance/payouts`` shows what each payee is owed and
paid for a month, and marks it paid with the payment's reference (finance officers).

Closing and paying go through ``vouchers.periods`` and ``vouchers.payouts``, as the JSON API does; the
period filter, district scope and refusal wording come from ``booking.web.finance``.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from wtforms import SelectChoice

from booking.core import clock
from booking.core.db import db
from booking.core.errors import DomainError
from booking.core.i18n import current_language, format_yuan
from booking.web.access import page
from booking.web.blueprint import blp
from booking.web.finance import all_districts, period_form, show_error, user_names
from booking.web.finance_forms import ClosePeriodForm, PayoutForm
from vouchers import ledger, payouts, periods, scope
from vouchers.models import AccountingPeriod


def recent_periods(count: int = 12) -> list[str]:
    """This month and the ``count - 1`` before it, newest first."""
    months, period = [], ledger.period_of(clock.now())
    for _i in range(count):
        months.append(period)
        year, month = int(period[:4]), int(period[5:])
        period = f"{year - (month == 1):04d}-{(month - 2) % 12 + 1:02d}"
    return months


def _periods_page(form: ClosePeriodForm | None = None, status: int = 200):
    closed = {
        p.period: p
        for p in db.session.scalars(select(AccountingPeriod).order_by(AccountingPeriod.period.desc()))
    }
    current = ledger.period_of(clock.now())
    months = sorted(set(recent_periods()) | set(closed), reverse=True)
    may_close = periods.may_close_periods(current_user)
    if form is None and may_close:
        form = ClosePeriodForm(formdata=None)
    if form is not None:
        form.period.choices = [SelectChoice(p, p) for p in periods.closable_periods()]
    names = user_names({p.closed_by_id for p in closed.values()})
    return render_template(
        "finance/periods.html",
        periods=months,
        closed=closed,
        current=current,
        form=form if may_close else None,
        names=names,
    ), status


@blp.route("/finance/periods")
@page("finance", "admin")
def finance_periods():
    return _periods_page()


@blp.route("/finance/periods/close", methods=["POST"])
@page("finance", "admin")  # the same roles as POST /api/v1/finance/periods/{period}/close
def finance_period_close():
    if not periods.may_close_periods(current_user):
        # a district office never sees the form; a forged POST is refused before anything is read
        abort(403)
    form = ClosePeriodForm()
    # what the form offered, or a month closed meanwhile (another tab): the domain then says so
    taken = periods.closable_periods() + list(db.session.scalars(select(AccountingPeriod.period)))
    form.period.choices = [SelectChoice(p, p) for p in taken]
    if not form.validate_on_submit():
        return _periods_page(form, 422)
    try:
        periods.close_period(current_user, form.period.data)
    except DomainError as error:
        show_error(form, error, {"period": form.period})
        return _periods_page(form, error.status)
    flash(_("%(period)s is closed.", period=form.period.data), "success")
    return redirect(url_for("web.finance_periods"))


def _payouts_page(overrides: dict | None = None, status: int = 200, period: str | None = None):
    """One card per payee with the viewer's own share (admins: every office's share): owed, paid
    with each payout's reference, and a form while something is unpaid."""
    form, period, status_ = period_form(period)
    status = max(status, status_)
    cards = payouts.payout_cards(current_user, period) if period is not None else []
    forms = {}
    if current_user.role == "finance" and period is not None:
        for card in cards:
            key = f"{card['payee_kind']}-{card['payee_id']}"
            if card["unpaid_fen"] > 0 or key in (overrides or {}):
                forms[key] = (overrides or {}).get(key) or PayoutForm(
                    prefix=f"payout-{key}",
                    formdata=None,
                    period=period,
                    payee_kind=card["payee_kind"],
                    payee_id=str(card["payee_id"]),
                )
    return render_template(
        "finance/payouts.html",
        form=form,
        period=period,
        cards=cards,
        forms=forms,
        district_names={d.code: d.display_name(current_language()) for d in all_districts()},
    ), status


@blp.route("/finance/payouts")
@page("finance", "admin")
def finance_payouts():
    return _payouts_page()


@blp.route("/finance/payouts/<payee_kind>/<int:payee_id>", methods=["POST"])
@page("finance")  # the same role as POST /api/v1/finance/payouts
def finance_payout(payee_kind: str, payee_id: int):
    if payee_kind not in ("lab", "provider"):
        abort(404)
    key = f"{payee_kind}-{payee_id}"
    form = PayoutForm(prefix=f"payout-{key}")
    if not form.validate_on_submit():
        return _payouts_page({key: form}, 422, valid_period(form.period.data))
    try:
        result, new = payouts.payout(
            current_user,
            period=form.period.data,
            payee_kind=payee_kind,
            payee_id=payee_id,
            reference=" ".join(form.reference.data.split()),
        )
    except DomainError as error:
        show_error(form, error, {"reference": form.reference})
        return _payouts_page({key: form}, error.status, valid_period(form.period.data))
    if new:
        flash(_("Marked paid: %(amount)s.", amount=format_yuan(result["paid_fen"])), "success")
    elif not result["paid_fen"]:
        flash(_("Your office's programmes owe this payee nothing for this month."), "info")
    else:
        flash(_("Nothing more to pay: this statement was already marked paid."), "info")
    return redirect(url_for("web.finance_payouts", period=form.period.data))


def valid_period(period: str | None) -> str | None:
    return period if period and scope.PERIOD_RE.match(period) else None
