"""The finance dashboard page: per programme budget, issued, committed, spent, paid and unissued, spend
by month as a server-rendered SVG bar chart (no script), top teams and payees. The data is
``vouchers.finance.dashboard``, the same function as ``GET /api/v1/finance/dashboard``."""

from __future__ import annotations

from flask import render_template, request
from flask_login import current_user

from booking.web import blp
from booking.web.access import page
from vouchers import finance

CHART_WIDTH, CHART_HEIGHT, CHART_TOP = 600, 200, 20


def spend_chart(programs: list[dict]) -> dict:
    """Bars of total spend per month (all programmes shown), in whole SVG units."""
    totals: dict[str, int] = {}
    for program in programs:
        for month in program["by_month"]:
            totals[month["period"]] = totals.get(month["period"], 0) + month["spent_fen"]
    months = sorted(totals)
    peak = max(totals.values(), default=0)
    slot = CHART_WIDTH // max(len(months), 1)
    bars = []
    for i, period in enumerate(months):
        height = (totals[period] * (CHART_HEIGHT - CHART_TOP)) // peak if peak else 0
        bars.append(
            {
                "period": period,
                "spent_fen": totals[period],
                "x": i * slot + slot // 6,
                "width": max(slot * 2 // 3, 1),
                "y": CHART_HEIGHT - height,
                "height": height,
                "label_x": i * slot + slot // 2,
            }
        )
    return {"width": CHART_WIDTH, "height": CHART_HEIGHT, "bars": bars}


@blp.route("/finance")
@page("finance", "admin")
def finance_dashboard():
    district_code = request.args.get("district_code") or None
    data = finance.dashboard(current_user, district_code)
    return render_template("finance/dashboard.html", data=data, chart=spend_chart(data["programs"]))
