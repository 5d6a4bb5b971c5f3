"""Core tables: reference data, accounts, teams and invitations, providers, bookings, outbox, calendar feeds."""

from booking.models.api_token import ApiToken
from booking.models.booking import (
    CANCELLABLE_STATUSES,
    COMPUTE_HOLDING_STATUSES,
    HOLDING_STATUSES,
    SERVED_STATUSES,
    STATUSES,
    Booking,
    BookingStatus,
    PaymentStatus,
)
from booking.models.booking_series import BookingSeries
from booking.models.browser_session import BrowserSession
from booking.models.calendar_feed import CalendarFeed
from booking.models.district import District
from booking.models.email_link import LINK_PURPOSES, EmailLink
from booking.models.offer import ComputeOffer
from booking.models.organization import Organization
from booking.models.outbox import OutboxMessage
from booking.models.payment import BookingPayment, PaymentEvent
from booking.models.provider import Provider
from booking.models.scheduler_lease import SchedulerLease
from booking.models.sign_in_attempt import SignInAttempt
from booking.models.team import Team, TeamMember
from booking.models.team_invitation import INVITATION_STATUSES, TeamInvitation
from booking.models.usage import UsageRecord
from booking.models.user import ROLES, User

__all__ = [
    "CANCELLABLE_STATUSES",
    "COMPUTE_HOLDING_STATUSES",
    "HOLDING_STATUSES",
    "INVITATION_STATUSES",
    "LINK_PURPOSES",
    "ROLES",
    "SERVED_STATUSES",
    "STATUSES",
    "ApiToken",
    "Booking",
    "BookingPayment",
    "BookingSeries",
    "BookingStatus",
    "BrowserSession",
    "CalendarFeed",
    "ComputeOffer",
    "District",
    "EmailLink",
    "Organization",
    "OutboxMessage",
    "PaymentEvent",
    "PaymentStatus",
    "Provider",
    "SchedulerLease",
    "SignInAttempt",
    "Team",
    "TeamInvitation",
    "TeamMember",
    "UsageRecord",
    "User",
]
