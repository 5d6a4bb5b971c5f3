"""The main navigation, per role: each role sees only the pages it uses, and never one it would be
refused (tests/web/test_role_homes.py follows every link for every role and wants a 200).

``main_nav()`` is handed to the layout as a callable, so the links (the founder's wallet needs its
teams) are worked out only when a page's header is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from booking.core.db import db
from booking.models import Team
from booking.people.teams import visible_teams
from booking.web.blueprint import blp


@dataclass(frozen=True)
class NavLink:
    endpoint: str
    label: object  # a lazy string: translated when drawn
    values: tuple[tuple[str, object], ...] = ()
    anchor: str | None = None

    @property
    def href(self) -> str:
        return url_for(self.endpoint, _anchor=self.anchor, **dict(self.values))

    @property
    def current(self) -> bool:
        return (
            self.anchor is None
            and request.endpoint == self.endpoint
            and request.view_args == dict(self.values)
        )


HOME = NavLink("web.home", _l("Home"))
INSTRUMENTS = NavLink("web.instrument_list", _l("Instruments"))
COMPUTE = NavLink("web.compute_offers", _l("GPU compute"))
SERVICES = NavLink("web.service_list", _l("Testing services"))
TEAMS = NavLink("web.team_list", _l("Teams"))
PROGRAMMES = NavLink("web.program_list", _l("Voucher programmes"))
APPLICATIONS = NavLink("web.application_list", _l("Voucher applications"))
LAB_CONSOLE = NavLink("web.lab_console", _l("Lab console"))
PROVIDER_CONSOLE = NavLink("web.provider_console", _l("Provider console"))
FINANCE_DASHBOARD = NavLink("web.finance_dashboard", _l("Finance dashboard"))
ADMINISTRATION = NavLink("web.admin_overview", _l("Administration"))

NAV_BY_ROLE = {
    "lab_manager": (
        LAB_CONSOLE,
        NavLink("web.lab_console", _l("My instruments"), anchor="instruments"),
        NavLink("web.lab_console", _l("My testing services"), anchor="services"),
        NavLink("web.lab_console", _l("Training requests"), anchor="training"),
        NavLink("web.lab_orders", _l("Service orders")),
        NavLink("web.lab_claims", _l("Claims")),
        NavLink("web.booking_list", _l("Bookings")),
    ),
    "provider": (
        PROVIDER_CONSOLE,
        NavLink("web.provider_usage", _l("Usage reports")),
        NavLink("web.provider_claims", _l("Claims")),
        COMPUTE,
        NavLink("web.booking_list", _l("Bookings")),
    ),
    "finance": (
        FINANCE_DASHBOARD,
        NavLink("web.finance_exceptions", _l("Exceptions")),
        PROGRAMMES,
        APPLICATIONS,
        TEAMS,
        NavLink("web.finance_statements", _l("Statements")),
        NavLink("web.finance_claims", _l("Claims")),
        NavLink("web.finance_payouts", _l("Payouts")),
        NavLink("web.finance_periods", _l("Periods")),
    ),
    "admin": (
        ADMINISTRATION,
        NavLink("web.admin_users", _l("Users")),
        NavLink("web.admin_labs", _l("Labs")),
        NavLink("web.admin_providers", _l("Compute providers")),
        FINANCE_DASHBOARD,
        TEAMS,
        PROGRAMMES,
        APPLICATIONS,
        NavLink("web.booking_list", _l("Bookings")),
        INSTRUMENTS,
    ),
}


def founder_wallet_link() -> NavLink:
    """The founder's vouchers: the wallet of their one team; with several, the home's balances (a
    link to each wallet); with none yet, the programmes they could apply to once they have a team."""
    team_ids = db.session.scalars(visible_teams(current_user).with_only_columns(Team.id).limit(2)).all()
    if len(team_ids) == 1:
        return NavLink("web.team_wallet", _l("My vouchers"), (("team_id", team_ids[0]),))
    if team_ids:
        return NavLink("web.home", _l("My vouchers"), anchor="vouchers")
    return NavLink("web.program_list", _l("My vouchers"))


def main_nav() -> list[NavLink]:
    if not current_user.is_authenticated:
        return []
    if current_user.role == "founder":
        return [
            HOME,
            INSTRUMENTS,
            SERVICES,
            COMPUTE,
            NavLink("web.booking_list", _l("My bookings")),
            NavLink("web.order_list", _l("My orders")),
            TEAMS,
            founder_wallet_link(),
            PROGRAMMES,
            APPLICATIONS,
        ]
    return list(NAV_BY_ROLE.get(current_user.role, ()))


@blp.app_context_processor
def _navigation():
    return {"main_nav": main_nav}
