"""The HTML side. Views call the same operations as the JSON API; only the request boundary commits.

Every page module registers its routes on ``booking.web.blueprint.blp``; importing them here is
what puts them on it.
"""

from booking.web import (  # noqa: F401 - imported for their routes
    account,
    admin,
    admin_users,
    booking_series,
    bookings,
    claims,
    compute,
    finance,
    finance_periods,
    finance_reports,
    home,
    instrument_booking,
    instruments,
    invitations,
    kiosk,
    lab_closures,
    lab_console,
    lab_instruments,
    lab_orders,
    lab_services,
    navigation,
    orders,
    passwords,
    payee_statements,
    program_edit,
    provider,
    services,
    sign_up,
    single_sign_on,
    teams,
    training,
    voucher_applications,
    voucher_wallet,
    vouchers,
    waitlist,
)
from booking.web.blueprint import blp

__all__ = ["blp"]
