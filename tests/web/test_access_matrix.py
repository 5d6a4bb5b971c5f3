"""Who may call what: every role × every endpoint (API and HTML), generated from the URL map.

Each (endpoint, method) of ``app.url_map`` must have a row in ``RULES`` below, and every view must
carry an access mark (``api_auth``/``public`` on the API, ``@page``/``@public_page`` on HTML pages):
a new endpoint without either fails the suite. A row gives the request (path and body, built from
real objects of the ``world`` fixture) and one expectation per role, in the order of ``ROLES``:

- ``U``  anonymous: 401 in the API error shape (with ``WWW-Authenticate``), or a redirect to sign-in;
- ``F``  403: this role may not do this at all;
- ``N``  404: the object belongs to someone else (its existence is not revealed);
- ``ok`` allowed: neither 401, 403 nor 404, and never a 5xx (a 409/422 about the data is fine).

Each request runs in its own SAVEPOINT, rolled back afterwards, so one role's change (a cancelled
booking, a revoked token) never changes what the next role sees.

Adding an endpoint: add a row ``("blueprint.Endpoint", "METHOD"): (path, body, "U ok ...")`` — path
and body may name ``{team}``, ``{booking}``... (the ids in ``World.ids``); HTML forms get their CSRF
token added. Run ``RECORD_ACCESS=1 pytest tests/web/test_access_matrix.py -k <endpoint> -s`` to print what
each role gets now, then write down what each role *should* get.
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from booking.core import clock
from booking.core.db import db, write_intent
from booking.core.storage import storage
from booking.flow import calendar, series, service_orders, service_results, waitlist
from booking.models import ApiToken, User
from booking.people import invitations
from instruments import closures, training
from instruments.models import Blackout, Instrument, Lab
from tests.conftest import CSRF_RE, PASSWORD, sign_in, wipe_database
from tests.support.factories import Factory
from vouchers import programs
from vouchers.models import Claim, ClaimAttachment, ClaimShare, FinanceException
from vouchers.reports import exports

ROLES = (
    "anonymous",
    "owner",
    "other_founder",
    "lab_manager",
    "provider",
    "finance_same_district",
    "finance_other_district",
    "finance_municipal",
    "admin",
)
ROLE_OF = {
    "owner": "founder",
    "other_founder": "founder",
    "lab_manager": "lab_manager",
    "provider": "provider",
    "finance_same_district": "finance",
    "finance_other_district": "finance",
    "finance_municipal": "finance",
    "admin": "admin",
}
_n = itertools.count(1)


@dataclass
class World:
    users: dict
    ids: dict
    tokens: dict = field(default_factory=dict)  # role → bearer token
    sessions: dict = field(default_factory=dict)  # role → (cookies, CSRF token) of a browser session


def _next_weekday_10am(days_ahead: int = 7) -> datetime:
    tz = ZoneInfo("Asia/Shanghai")
    day = clock.now().astimezone(tz).date() + timedelta(days=days_ahead)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, time(10), tzinfo=tz).astimezone(UTC)


@pytest.fixture(scope="module")
def world(app) -> World:
    """One world per test module, built before the first test that uses it and committed for real
    (module-scoped fixtures are set up before each test's SAVEPOINT isolation), then wiped after the
    module's last test. Every test still starts from it unchanged: a test's own requests and rows are
    rolled back with its outer transaction, as before. Each role is signed in once here, too (a browser
    session is a committed row); the tests copy that session's cookies into fresh test clients."""
    make = Factory(app, PASSWORD)
    try:
        built = _build_world(make, app)
        for role, user in built.users.items():
            built.tokens[role] = make.token_for(user) if user is not None else None
            built.sessions[role] = _browser_session(app, user)
        yield built
    finally:
        wipe_database(app)


def _browser_session(app, user) -> tuple[dict, str]:
    """A test client's cookies after signing in through the form (none for anonymous), and the CSRF
    token of that session, read from the page "/" leads to ("/sign-in" for anonymous)."""
    browser = app.test_client()
    if user is not None:
        sign_in(browser, user)
    page = browser.get("/" if user is not None else "/sign-in", follow_redirects=True)
    page = page.get_data(as_text=True)  # "/" is each role's home; most roles are sent on to a console
    return dict(browser._cookies), CSRF_RE.search(page).group(1)


def _build_world(make, app) -> World:
    owner = make.user("founder")
    team = make.team(owner=owner, district_code="500106", verified=True)
    other_founder = make.user("founder")
    make.team(owner=other_founder, district_code="500106", verified=True)
    lab_manager = make.user("lab_manager")
    lab = make.lab(manager=lab_manager, district_code="500106")
    closed_lab = make.lab(manager=lab_manager, district_code="500106")  # a closure without instruments
    instrument = make.instrument(lab, requires_approval=True)
    service = make.service(lab)
    starts = _next_weekday_10am()
    make.blackout(instrument, starts + timedelta(days=14), starts + timedelta(days=14, hours=2))
    make.qualify(instrument, owner)
    trained_instrument = make.instrument(lab, requires_training=True)
    provider = make.provider()
    provider_user = make.user("provider", provider_id=provider.id)
    offer = make.offer(provider)
    users = {
        "anonymous": None,
        "owner": owner,
        "other_founder": other_founder,
        "lab_manager": lab_manager,
        "provider": provider_user,
        "finance_same_district": make.finance("500106"),
        "finance_other_district": make.finance("500103"),
        "finance_municipal": make.finance(None),
        "admin": make.user("admin"),
    }
    program = make.program(users["finance_same_district"], level="district", district_code="500106")
    voucher = make.voucher(team, program, amount_fen=300_000)
    booking = make.booking(team, instrument, starts, starts + timedelta(hours=1), now=clock.now())
    # under way now, on an instrument with self check-in: the team's members check in and out themselves
    self_instrument = make.instrument(
        lab,
        hours=tuple((day, 0, 1440) for day in range(7)),
        lead_minutes=0,
        self_check_in=True,
        no_show_grace_minutes=60,
    )
    half_hour = clock.now().replace(second=0, microsecond=0)
    half_hour -= timedelta(minutes=half_hour.minute % 30)
    self_instrument_booking = make.booking(team, self_instrument, half_hour, half_hour + timedelta(hours=2))
    for user in users.values():
        if user is not None:
            make.token_for(user)

    def extras():
        application = programs.apply(
            db.session.get(User, owner.id), program.id, team_id=team.id, amount_fen=100_000, purpose="GPU"
        )
        feed, secret = calendar.create_feed(db.session.get(User, owner.id), "user")
        exception = FinanceException(
            kind="over_tolerance",
            booking_id=booking.id,
            district_code="500106",
            details={},
            blocking=True,
            unique_key=f"matrix-{next(_n)}-{booking.id}",
        )
        db.session.add(exception)
        db.session.flush()
        token_id = db.session.scalar(select(ApiToken.id).where(ApiToken.user_id == owner.id))
        with app.test_request_context():  # the mail's link is absolute
            invitation = invitations.invite(db.session.get(User, owner.id), team.id, "invitee@example.cn")
        training_request = training.request_training(
            db.session.get(User, other_founder.id), db.session.get(Instrument, trained_instrument.id)
        )
        closure = closures.add_closure(
            db.session.get(Lab, closed_lab.id),
            starts_at=starts + timedelta(days=30),
            ends_at=starts + timedelta(days=30, hours=2),
            reason="停电",
            by=db.session.get(User, lab_manager.id),
        )
        with clock.frozen_at(starts - timedelta(days=1)):
            entry = waitlist.join(
                db.session.get(User, owner.id),
                instrument.id,
                team_id=team.id,
                starts_at=starts,
                ends_at=starts + timedelta(hours=1),
            )
        export = exports.request_export(
            db.session.get(User, users["finance_same_district"].id), "statement", "csv", "2026-10"
        )
        weekly, _created = series.create_series(
            db.session.get(User, owner.id),
            team_id=team.id,
            instrument_id=instrument.id,
            starts_at=starts + timedelta(days=7),
            ends_at=starts + timedelta(days=7, hours=1),
            every="week",
            count=2,
            on_conflict="skip",
        )
        # a service order in progress with one result file
        order = service_orders.submit_order(
            db.session.get(User, owner.id),
            team_id=team.id,
            service_id=service.id,
            samples=1,
            answers={"material": "硅"},
        )
        manager = db.session.get(User, lab_manager.id)
        service_orders.accept(manager, order)
        service_orders.receive(manager, order)
        result = service_results.add_result(
            manager, order, filename="结果.txt", stream=b"result", content_type="text/plain"
        )
        claim, claim_attachment = _claim_of(lab, lab_manager, program)
        ids = {
            "application": application.id,
            "claim": claim.id,
            "claim_attachment": claim_attachment.id,
            "feed": feed.id,
            "secret": secret,
            "exception": exception.id,
            "export": export.id,
            "invitation": invitation.id,
            "training_request": training_request.id,
            "series": weekly.id,
            "order": order.id,
            "order_result": result.id,
            "closure": closure.id,
            "waitlist_entry": entry.id,
        }
        db.session.commit()
        return {**ids, "token": token_id}

    with app.app_context(), write_intent():
        created = extras()
    ids = {
        "team": team.id,
        "lab": lab.id,
        "instrument": instrument.id,
        "trained_instrument": trained_instrument.id,
        "service": service.id,
        "provider": provider.id,
        "offer": offer.id,
        "program": program.id,
        "voucher": voucher.id,
        "booking": booking.id,
        "self_booking": self_instrument_booking.id,
        "owner": owner.id,
        "spare_founder": make.user("founder").id,
        "spare_lab_manager": make.user("lab_manager").id,
        "spare_email": make.user("founder").email,
        "starts": (starts + timedelta(days=1)).isoformat(),
        "ends": (starts + timedelta(days=1, hours=1)).isoformat(),
        "period": "2026-10",
        "closed_lab": closed_lab.id,
        "slot_starts": (starts + timedelta(hours=2)).isoformat(),
        "slot_ends": (starts + timedelta(hours=3)).isoformat(),
        "closure_starts": (starts + timedelta(days=40)).isoformat(),
        "closure_ends": (starts + timedelta(days=40, hours=2)).isoformat(),
        **created,
    }
    with app.app_context():
        ids["blackout"] = db.session.scalar(
            select(Blackout.id).where(Blackout.instrument_id == instrument.id)
        )
    return World(users, ids)


def _claim_of(lab, lab_manager, program):
    """A lab's claim for 2026-10 with a municipal and a district (500106) share, and one scan."""
    claim = Claim(
        payee_kind="lab",
        payee_id=lab.id,
        period="2026-10",
        invoice_number="No. 1",
        status="submitted",
        amount_fen=300,
        municipal_fen=100,
        district_fen=200,
        bookings=1,
        created_by_id=lab_manager.id,
    )
    db.session.add(claim)
    db.session.flush()
    db.session.add(ClaimShare(claim_id=claim.id, level="municipal", amount_fen=100, programs={}))
    db.session.add(
        ClaimShare(
            claim_id=claim.id,
            level="district",
            district_code="500106",
            amount_fen=200,
            programs={str(program.id): 200},
        )
    )
    stored = storage.put(b"%PDF-1.4 matrix", filename="invoice.pdf", content_type="application/pdf")
    attachment = ClaimAttachment(
        claim_id=claim.id,
        key=stored.key,
        filename=stored.filename,
        size=stored.size,
        sha256=stored.sha256,
        content_type=stored.content_type,
        uploaded_by_id=lab_manager.id,
    )
    db.session.add(attachment)
    db.session.flush()
    return claim, attachment


# --- the expectation table ------------------------------------------------------------------------------
# roles:       anonymous owner other_founder lab_manager provider fin_same fin_other fin_municipal admin

_user = {"email": "new{n}@example.cn", "password": "s3cret-pass", "name": "New", "role": "founder"}
_place = {"name": "L", "university": "重庆大学", "district_code": "500106", "organization": "重庆大学"}
_instrument = {
    "name": "SEM",
    "category": "microscopy",
    "hourly_rate_fen": 10_000,
    "operation_mode": "market",
    "timezone": "Asia/Shanghai",
}
_service = {
    "name": "SEM 形貌",
    "category": "SEM",
    "price_per_sample_fen": 30_000,
    "turnaround_days": 5,
    "max_samples": 10,
    "sample_fields": [{"key": "material", "label": "材料", "type": "text", "required": True}],
}
_service_form = {
    "lab_id": "{lab}",
    "name": "SEM 形貌",
    "category": "SEM",
    "price_yuan": "300.00",
    "turnaround_days": "5",
    "max_samples": "10",
    "sample_fields-0-key": "material",
    "sample_fields-0-label": "材料",
    "sample_fields-0-type": "text",
    "submit": "yes",
}
_program = {
    "name": "算力券",
    "level": "district",
    "district_code": "500106",
    "resource_kinds": ["compute", "instrument"],
    "rate_bp": 3000,
    "budget_fen": 1_000_000,
    "per_team_cap_fen": 100_000,
    "valid_from": "2026-01-01",
    "valid_to": "2027-12-31",
    "voucher_validity_days": 365,
}

RULES: dict[tuple[str, str], tuple[str, object, str]] = {
    # --- API: accounts and tokens
    ("auth.Tokens", "POST"): (
        "/api/v1/auth/tokens",
        {"email": "{spare_email}", "password": PASSWORD},
        "ok ok ok ok ok ok ok ok ok",
    ),
    ("auth.Tokens", "GET"): ("/api/v1/auth/tokens", None, "U ok ok ok ok ok ok ok ok"),
    ("auth.Token", "DELETE"): ("/api/v1/auth/tokens/{token}", None, "U ok N N N N N N N"),
    ("auth.Me", "GET"): ("/api/v1/me", None, "U ok ok ok ok ok ok ok ok"),
    # --- API: password reset, password change, sign out everywhere
    ("passwords.PasswordReset", "POST"): (
        "/api/v1/auth/password-reset",
        {"email": "{spare_email}"},
        "ok ok ok ok ok ok ok ok ok",
    ),
    ("passwords.PasswordResetConfirm", "POST"): (
        "/api/v1/auth/password-reset/confirm",
        {"token": "not-a-reset-token", "password": "a-new-Password-1"},
        "ok ok ok ok ok ok ok ok ok",
    ),
    ("passwords.SignOutEverywhere", "POST"): (
        "/api/v1/auth/sign-out-everywhere",
        None,
        "U ok ok ok ok ok ok ok ok",
    ),
    ("passwords.MyPassword", "POST"): (
        "/api/v1/me/password",
        {"current_password": "not-the-password", "new_password": "a-new-Password-1"},
        "U ok ok ok ok ok ok ok ok",
    ),
    # --- API: sign-up and e-mail verification (public, but the resend is for a signed-in user)
    ("onboarding.SignUp", "POST"): (
        "/api/v1/auth/sign-up",
        {"email": "{spare_email}", "password": PASSWORD, "name": "Someone"},
        "ok ok ok ok ok ok ok ok ok",
    ),
    ("onboarding.VerifyEmail", "POST"): (
        "/api/v1/auth/verify-email",
        {"token": "not-a-token"},
        "ok ok ok ok ok ok ok ok ok",
    ),
    ("onboarding.ResendVerification", "POST"): (
        "/api/v1/auth/verify-email/resend",
        None,
        "U ok ok ok ok ok ok ok ok",
    ),
    ("users.Users", "GET"): ("/api/v1/users", None, "U F F F F F F F ok"),
    ("users.Users", "POST"): ("/api/v1/users", _user, "U F F F F F F F ok"),
    ("users.UserById", "GET"): ("/api/v1/users/{owner}", None, "U ok N N N N N N ok"),
    ("users.UserById", "PATCH"): ("/api/v1/users/{spare_founder}", {"name": "Renamed"}, "U F F F F F F F ok"),
    ("users.Districts", "GET"): ("/api/v1/districts", None, "U ok ok ok ok ok ok ok ok"),
    # --- teams, labs, providers
    ("teams.Teams", "GET"): ("/api/v1/teams", None, "U ok ok ok ok ok ok ok ok"),
    ("teams.Teams", "POST"): ("/api/v1/teams", _place, "U ok ok F F F F F F"),
    ("teams.TeamById", "GET"): ("/api/v1/teams/{team}", None, "U ok N N N ok N ok ok"),
    ("teams.TeamMembers", "POST"): (
        "/api/v1/teams/{team}/members",
        {"user_id": "{spare_founder}"},
        "U ok N F F F F F F",
    ),
    ("invitations.TeamInvitations", "POST"): (
        "/api/v1/teams/{team}/invitations",
        {"email": "invited{n}@example.cn"},
        "U ok N F F F F F F",
    ),
    ("invitations.TeamInvitations", "GET"): ("/api/v1/teams/{team}/invitations", None, "U ok N F F F F F F"),
    ("invitations.TeamInvitationById", "DELETE"): (
        "/api/v1/teams/{team}/invitations/{invitation}",
        None,
        "U ok N F F F F F F",
    ),
    ("invitations.InvitationAcceptance", "POST"): (
        "/api/v1/invitations/accept",
        {"token": "not-a-real-token"},
        "U ok ok ok ok ok ok ok ok",
    ),
    ("teams.TeamVerification", "POST"): ("/api/v1/teams/{team}/verify", None, "U F F F F ok N F ok"),
    ("vouchers.TeamVouchers", "GET"): ("/api/v1/teams/{team}/vouchers", None, "U ok N F F ok N ok ok"),
    ("labs.Labs", "GET"): ("/api/v1/labs", None, "U ok ok ok ok ok ok ok ok"),
    ("labs.Labs", "POST"): ("/api/v1/labs", _place, "U F F F F F F F ok"),
    ("labs.LabById", "GET"): ("/api/v1/labs/{lab}", None, "U ok ok ok ok ok ok ok ok"),
    ("labs.LabManagers", "POST"): (
        "/api/v1/labs/{lab}/managers",
        {"user_id": "{spare_lab_manager}"},
        "U F F F F F F F ok",
    ),
    ("labs.LabInstruments", "POST"): ("/api/v1/labs/{lab}/instruments", _instrument, "U F F ok F F F F ok"),
    ("providers.Providers", "GET"): ("/api/v1/providers", None, "U ok ok ok ok ok ok ok ok"),
    ("providers.Providers", "POST"): (
        "/api/v1/providers",
        {"name": "P", "organization": "P Co"},
        "U F F F F F F F ok",
    ),
    ("providers.ProviderById", "GET"): ("/api/v1/providers/{provider}", None, "U ok ok ok ok ok ok ok ok"),
    # --- compute
    ("compute.Offers", "GET"): ("/api/v1/compute/offers", None, "U ok ok ok ok ok ok ok ok"),
    ("compute.OfferById", "GET"): ("/api/v1/compute/offers/{offer}", None, "U ok ok ok ok ok ok ok ok"),
    ("compute.OfferById", "PATCH"): ("/api/v1/compute/offers/{offer}", {"name": "B"}, "U F F F ok F F F ok"),
    ("compute.OfferAvailability", "GET"): (
        "/api/v1/compute/offers/{offer}/availability",
        None,
        "U ok ok ok ok ok ok ok ok",
    ),
    ("compute.ProviderOffers", "POST"): (
        "/api/v1/providers/{provider}/offers",
        {"name": "H", "gpu_model": "H100", "gpus_total": 8, "price_per_gpu_hour_fen": 100},
        "U F F F ok F F F ok",
    ),
    ("usage.UsageRecords", "POST"): (
        "/api/v1/usage-records",
        {
            "records": [
                {
                    "external_id": "x",
                    "booking_id": 1,
                    "started_at": "{starts}",
                    "ended_at": "{ends}",
                    "gpu_hours": "1",
                }
            ]
        },
        "U F F F ok F F F F",
    ),
    # --- instruments
    ("instrument_search.Instruments", "GET"): ("/api/v1/instruments", None, "U ok ok ok ok ok ok ok ok"),
    ("instrument_search.InstrumentDetail", "GET"): (
        "/api/v1/instruments/{instrument}",
        None,
        "U ok ok ok ok ok ok ok ok",
    ),
    ("instrument_search.InstrumentAvailability", "GET"): (
        "/api/v1/instruments/{instrument}/availability",
        None,
        "U ok ok ok ok ok ok ok ok",
    ),
    ("labs.InstrumentById", "PATCH"): (
        "/api/v1/instruments/{instrument}",
        {"name": "TEM"},
        "U F F ok F F F F ok",
    ),
    ("labs.InstrumentBlackouts", "GET"): (
        "/api/v1/instruments/{instrument}/blackouts",
        None,
        "U ok ok ok ok ok ok ok ok",
    ),
    ("labs.InstrumentBlackouts", "POST"): (
        "/api/v1/instruments/{instrument}/blackouts",
        {"starts_at": "{starts}", "ends_at": "{ends}", "reason": "service"},
        "U F F ok F F F F ok",
    ),
    # --- lab closures and the waitlist
    ("closures.LabClosures", "POST"): (
        "/api/v1/labs/{lab}/closures",
        {"starts_at": "{closure_starts}", "ends_at": "{closure_ends}", "reason": "停电"},
        "U F F ok F F F F ok",
    ),
    ("closures.LabClosures", "GET"): ("/api/v1/labs/{closed_lab}/closures", None, "U F F ok F F F F ok"),
    ("closures.ClosureById", "DELETE"): ("/api/v1/closures/{closure}", None, "U F F ok F F F F ok"),
    ("waitlist.InstrumentWaitlist", "POST"): (
        "/api/v1/instruments/{instrument}/waitlist",
        {"team_id": "{team}", "starts_at": "{slot_starts}", "ends_at": "{slot_ends}"},
        "U ok N F F F F F F",
    ),
    ("waitlist.InstrumentWaitlist", "GET"): (
        "/api/v1/instruments/{instrument}/waitlist",
        None,
        "U ok ok ok ok ok ok ok ok",
    ),
    ("waitlist.WaitlistEntryById", "DELETE"): (
        "/api/v1/waitlist/{waitlist_entry}",
        None,
        "U ok N N N N N N N",
    ),
    ("labs.InstrumentBlackout", "DELETE"): (
        "/api/v1/instruments/{instrument}/blackouts/{blackout}",
        None,
        "U F F ok F F F F ok",
    ),
    ("labs.InstrumentOpeningHours", "GET"): (
        "/api/v1/instruments/{instrument}/opening-hours",
        None,
        "U ok ok ok ok ok ok ok ok",
    ),
    ("labs.InstrumentOpeningHours", "PUT"): (
        "/api/v1/instruments/{instrument}/opening-hours",
        [{"weekday": 0, "opens": "09:00", "closes": "17:00"}],
        "U F F ok F F F F ok",
    ),
    ("labs.InstrumentQualifications", "GET"): (
        "/api/v1/instruments/{instrument}/qualifications",
        None,
        "U F F ok F F F F ok",
    ),
    ("labs.InstrumentQualifications", "POST"): (
        "/api/v1/instruments/{instrument}/qualifications",
        {"user_id": "{spare_founder}"},
        "U F F ok F F F F ok",
    ),
    ("labs.InstrumentQualification", "DELETE"): (
        "/api/v1/instruments/{instrument}/qualifications/{owner}",
        None,
        "U F F ok F F F F ok",
    ),
    # --- training
    ("training.InstrumentTrainingRequests", "POST"): (
        "/api/v1/instruments/{trained_instrument}/training-requests",
        {"note": "Tuesdays"},
        "U ok ok F F F F F F",
    ),
    ("training.InstrumentTrainingRequests", "GET"): (
        "/api/v1/instruments/{trained_instrument}/training-requests",
        None,
        "U F F ok F F F F ok",
    ),
    ("training.GrantTrainingRequest", "POST"): (
        "/api/v1/training-requests/{training_request}/grant",
        None,
        "U F F ok F F F F ok",
    ),
    ("training.DeclineTrainingRequest", "POST"): (
        "/api/v1/training-requests/{training_request}/decline",
        {"reason": "Full this month"},
        "U F F ok F F F F ok",
    ),
    # --- lab testing services
    ("services.LabServices", "POST"): ("/api/v1/labs/{lab}/services", _service, "U F F ok F F F F ok"),
    ("services.Services", "GET"): ("/api/v1/services", None, "U ok ok ok ok ok ok ok ok"),
    ("services.ServiceById", "GET"): ("/api/v1/services/{service}", None, "U ok ok ok ok ok ok ok ok"),
    ("services.ServiceById", "PATCH"): ("/api/v1/services/{service}", {"name": "XRD"}, "U F F ok F F F F ok"),
    # --- service orders
    ("service_orders.ServiceOrders", "POST"): (
        "/api/v1/service-orders",
        {"team_id": "{team}", "service_id": "{service}", "samples": 1, "answers": {"material": "硅"}},
        "U ok N F F F F F F",
    ),
    ("service_orders.ServiceOrders", "GET"): ("/api/v1/service-orders", None, "U ok ok ok ok ok ok ok ok"),
    ("service_orders.ServiceOrderById", "GET"): (
        "/api/v1/service-orders/{order}",
        None,
        "U ok N ok N ok N ok ok",
    ),
    ("service_orders.ServiceOrderAcceptance", "POST"): (
        "/api/v1/service-orders/{order}/accept",
        None,
        "U F F ok F F F F ok",
    ),
    ("service_orders.ServiceOrderRejection", "POST"): (
        "/api/v1/service-orders/{order}/reject",
        {"reason": "no"},
        "U F F ok F F F F ok",
    ),
    ("service_orders.ServiceOrderReceipt", "POST"): (
        "/api/v1/service-orders/{order}/receive",
        None,
        "U F F ok F F F F ok",
    ),
    ("service_orders.ServiceOrderResults", "POST"): (
        "/api/v1/service-orders/{order}/results",
        None,
        "U F F ok F F F F ok",
    ),
    ("service_orders.ServiceOrderResultFile", "GET"): (
        "/api/v1/service-orders/{order}/results/{order_result}",
        None,
        "U ok N ok N N N N ok",
    ),
    ("service_orders.ServiceOrderCompletion", "POST"): (
        "/api/v1/service-orders/{order}/complete",
        {"samples_processed": 1},
        "U F F ok F F F F ok",
    ),
    ("service_orders.ServiceOrderCancellation", "POST"): (
        "/api/v1/service-orders/{order}/cancel",
        None,
        "U ok N F F F F F F",
    ),
    ("service_orders.ServiceOrderRating", "POST"): (
        "/api/v1/service-orders/{order}/rating",
        {"score": 5},
        "U ok N F F F F F F",
    ),
    # --- bookings
    ("bookings.Bookings", "GET"): ("/api/v1/bookings", None, "U ok ok ok ok ok ok ok ok"),
    ("bookings.Bookings", "POST"): (
        "/api/v1/bookings",
        {"team_id": "{team}", "instrument_id": "{instrument}", "starts_at": "{starts}", "ends_at": "{ends}"},
        "U ok N F F F F F F",
    ),
    ("bookings.BookingById", "GET"): ("/api/v1/bookings/{booking}", None, "U ok N ok N ok N ok ok"),
    ("bookings.BookingApproval", "POST"): ("/api/v1/bookings/{booking}/approve", None, "U F F ok F F F F ok"),
    ("bookings.BookingRejection", "POST"): (
        "/api/v1/bookings/{booking}/reject",
        {"reason": "no"},
        "U F F ok F F F F ok",
    ),
    ("bookings.BookingCancellation", "POST"): (
        "/api/v1/bookings/{booking}/cancel",
        {},
        "U ok N ok F F F F ok",
    ),
    # team members only on an instrument with self_check_in (the world's has none): 403
    ("bookings.BookingCheckIn", "POST"): ("/api/v1/bookings/{booking}/check-in", {}, "U F N ok F F F F ok"),
    ("bookings.BookingCheckOut", "POST"): ("/api/v1/bookings/{booking}/check-out", {}, "U F N ok F F F F ok"),
    ("booking_series.BookingReschedule", "POST"): (
        "/api/v1/bookings/{booking}/reschedule",
        {"starts_at": "{starts}", "ends_at": "{ends}"},
        "U ok N F F F F F F",
    ),
    ("booking_series.BookingSeriesCollection", "POST"): (
        "/api/v1/booking-series",
        {
            "team_id": "{team}",
            "instrument_id": "{instrument}",
            "starts_at": "{starts}",
            "ends_at": "{ends}",
            "repeat": {"every": "day", "count": 2},
            "on_conflict": "skip",
        },
        "U ok N F F F F F F",
    ),
    ("booking_series.BookingSeriesById", "GET"): (
        "/api/v1/booking-series/{series}",
        None,
        "U ok N ok N N N N ok",
    ),
    ("booking_series.BookingSeriesCancellation", "POST"): (
        "/api/v1/booking-series/{series}/cancel",
        {},
        "U ok N F F F F F F",
    ),
    ("bookings.BookingRefund", "POST"): (
        "/api/v1/bookings/{booking}/refund",
        {"amount_fen": 100},
        "U F F F F F F F ok",
    ),
    ("payments.PaymentsWebhook", "POST"): ("/api/v1/payments/webhook", {}, "ok ok ok ok ok ok ok ok ok"),
    ("calendar.CalendarFeeds", "GET"): ("/api/v1/calendar-feeds", None, "U ok ok ok ok ok ok ok ok"),
    ("calendar.CalendarFeeds", "POST"): (
        "/api/v1/calendar-feeds",
        {"scope": "user"},
        "U ok ok ok ok ok ok ok ok",
    ),
    ("calendar.CalendarFeedById", "DELETE"): ("/api/v1/calendar-feeds/{feed}", None, "U ok N N N N N N N"),
    ("calendar_feeds.feed", "GET"): ("/ical/{secret}.ics", None, "ok ok ok ok ok ok ok ok ok"),
    # --- vouchers
    ("vouchers.Programs", "GET"): ("/api/v1/programs", None, "U ok ok ok ok ok ok ok ok"),
    ("vouchers.Programs", "POST"): ("/api/v1/programs", _program, "U F F F F ok F F F"),
    ("vouchers.ProgramById", "GET"): ("/api/v1/programs/{program}", None, "U ok ok N N ok N N ok"),
    ("vouchers.ProgramById", "PATCH"): ("/api/v1/programs/{program}", {"name": "P"}, "U F F F F ok N N ok"),
    ("vouchers.ProgramSummary", "GET"): ("/api/v1/programs/{program}/summary", None, "U F F F F ok N N ok"),
    ("vouchers.ProgramApplications", "POST"): (
        "/api/v1/programs/{program}/applications",
        {"team_id": "{team}", "amount_fen": 1000, "purpose": "GPU"},
        "U ok N F F F F F F",
    ),
    ("vouchers.Applications", "GET"): ("/api/v1/applications", None, "U ok ok ok ok ok ok ok ok"),
    ("vouchers.ApplicationById", "GET"): (
        "/api/v1/applications/{application}",
        None,
        "U ok N N N ok N N ok",
    ),
    ("vouchers.ApplicationApproval", "POST"): (
        "/api/v1/applications/{application}/approve",
        {},
        "U F F F F ok N N F",
    ),
    ("vouchers.ApplicationRejection", "POST"): (
        "/api/v1/applications/{application}/reject",
        {"reason": "no"},
        "U F F F F ok N N F",
    ),
    ("vouchers.VoucherRevocation", "POST"): (
        "/api/v1/vouchers/{voucher}/revoke",
        {"reason": "no"},
        "U F F F F ok N N F",
    ),
    # --- finance
    ("reconciliation.ReconciliationRuns", "POST"): (
        "/api/v1/reconciliation/runs",
        {},
        "U F F F F ok ok ok ok",
    ),
    ("finance.Dashboard", "GET"): ("/api/v1/finance/dashboard", None, "U F F F F ok ok ok ok"),
    ("finance.Exceptions", "GET"): ("/api/v1/finance/exceptions", None, "U F F F F ok ok ok ok"),
    ("finance.ExceptionResolution", "POST"): (
        "/api/v1/finance/exceptions/{exception}/resolve",
        {"comment": "fine"},
        "U F F F F ok N ok ok",
    ),
    ("finance.Statements", "GET"): (
        "/api/v1/finance/statements?period={period}",
        None,
        "U F F F F ok ok ok F",
    ),
    ("finance.LabReport", "GET"): (
        "/api/v1/finance/lab-report?period={period}",
        None,
        "U F F F F ok ok ok ok",
    ),
    ("finance.Payouts", "POST"): (
        "/api/v1/finance/payouts",
        {"period": "{period}", "payee_kind": "lab", "payee_id": "{lab}", "reference": "BANK-1"},
        "U F F F F ok ok ok F",
    ),
    # --- API: redemption claims (兑付); the claim is the lab's, with a 500106 and a municipal share
    ("claims.Claims", "POST"): (
        "/api/v1/claims",
        {"payee_kind": "lab", "payee_id": "{lab}", "period": "{period}", "invoice_number": "No. 2"},
        "U F F ok F F F F F",
    ),
    ("claims.Claims", "GET"): ("/api/v1/claims", None, "U F F ok ok ok ok ok ok"),
    ("claims.ClaimById", "GET"): ("/api/v1/claims/{claim}", None, "U F F ok F ok N ok ok"),
    ("claims.ClaimAttachments", "POST"): ("/api/v1/claims/{claim}/attachments", None, "U F F ok F F F F F"),
    ("claims.ClaimAttachmentFile", "GET"): (
        "/api/v1/claims/{claim}/attachments/{claim_attachment}",
        None,
        "U F F ok F ok N ok ok",
    ),
    ("claims.ClaimApproval", "POST"): ("/api/v1/claims/{claim}/approve", {}, "U F F F F ok N ok F"),
    ("claims.ClaimRejection", "POST"): (
        "/api/v1/claims/{claim}/reject",
        {"reason": "发票不符"},
        "U F F F F ok N ok F",
    ),
    ("claims.ClaimPayment", "POST"): (
        "/api/v1/claims/{claim}/pay",
        {"reference": "B-1"},
        "U F F F F ok N ok F",
    ),
    ("finance.PeriodClose", "POST"): ("/api/v1/finance/periods/{period}/close", None, "U F F F F F F ok ok"),
    ("finance.AuditLog", "GET"): ("/api/v1/finance/audit", None, "U F F F F ok ok ok ok"),
    ("finance.Journal", "GET"): ("/api/v1/finance/journal?period={period}", None, "U F F F F ok ok ok ok"),
    ("payee.PayeeStatements", "GET"): (
        "/api/v1/payee/statements?period={period}",
        None,
        "U F F ok ok F F F ok",
    ),
    ("api-docs.openapi_json", "GET"): ("/api/v1/openapi.json", None, "ok ok ok ok ok ok ok ok ok"),
    ("healthz", "GET"): ("/healthz", None, "ok ok ok ok ok ok ok ok ok"),
    # --- HTML pages
    ("web.home", "GET"): ("/", None, "ok ok ok ok ok ok ok ok ok"),
    ("web.favicon", "GET"): ("/favicon.ico", None, "ok ok ok ok ok ok ok ok ok"),
    ("web.set_language", "GET"): ("/language/en", None, "ok ok ok ok ok ok ok ok ok"),
    ("web.sign_in", "GET"): ("/sign-in", None, "ok ok ok ok ok ok ok ok ok"),
    ("web.sign_in", "POST"): (
        "/sign-in",
        {"email": "x@example.cn", "password": "p"},
        "ok ok ok ok ok ok ok ok ok",
    ),
    ("web.sign_out", "POST"): ("/sign-out", {}, "ok ok ok ok ok ok ok ok ok"),
    ("web.sign_up", "GET"): ("/sign-up", None, "ok ok ok ok ok ok ok ok ok"),
    ("web.sign_up", "POST"): (
        "/sign-up",
        {"name": "Someone", "email": "{spare_email}", "password": PASSWORD},
        "ok ok ok ok ok ok ok ok ok",
    ),
    ("web.check_your_email", "GET"): ("/sign-up/check-your-email", None, "ok ok ok ok ok ok ok ok ok"),
    ("web.verify_email", "GET"): ("/verify-email?token=not-a-token", None, "ok ok ok ok ok ok ok ok ok"),
    ("web.verify_email", "POST"): ("/verify-email", {"token": "not-a-token"}, "ok ok ok ok ok ok ok ok ok"),
    ("web.verify_email_resend", "POST"): ("/verify-email/resend", {}, "U ok ok ok ok ok ok ok ok"),
    # single sign-on is off in the matrix's app (no OIDC_ISSUER): 404 for everyone (tests/web/test_single_sign_on.py)
    ("web.oidc_login", "GET"): ("/auth/oidc/login", None, "N N N N N N N N N"),
    ("web.oidc_callback", "GET"): ("/auth/oidc/callback?code=x&state=y", None, "N N N N N N N N N"),
    ("web.team_list", "GET"): ("/teams", None, "U ok ok ok ok ok ok ok ok"),
    ("web.team_new", "GET"): ("/teams/new", None, "U ok ok F F F F F F"),
    ("web.team_new", "POST"): ("/teams/new", {"name": "T"}, "U ok ok F F F F F F"),
    ("web.team_detail", "GET"): ("/teams/{team}", None, "U ok N N N ok N ok ok"),
    ("web.team_add_member", "POST"): (
        "/teams/{team}/members",
        {"email": "{spare_email}"},
        "U ok N N N F N F F",
    ),
    ("web.team_invite", "POST"): (
        "/teams/{team}/invitations",
        {"email": "invited{n}@example.cn"},
        "U ok N F F F F F F",
    ),
    ("web.team_invitation_revoke", "POST"): (
        "/teams/{team}/invitations/{invitation}/revoke",
        {},
        "U ok N F F F F F F",
    ),
    ("web.invitation_accept", "GET"): ("/invitations/accept?token=nope", None, "ok ok ok ok ok ok ok ok ok"),
    ("web.invitation_join", "POST"): ("/invitations/accept", {"token": "nope"}, "U ok ok ok ok ok ok ok ok"),
    ("web.team_verify", "POST"): ("/teams/{team}/verify", {}, "U F F F F ok N F ok"),
    ("web.team_wallet", "GET"): ("/teams/{team}/vouchers", None, "U ok N N N ok N ok ok"),
    ("web.instrument_list", "GET"): ("/instruments", None, "U ok ok ok ok ok ok ok ok"),
    ("web.instrument_detail", "GET"): ("/instruments/{instrument}", None, "U ok ok ok ok ok ok ok ok"),
    ("web.instrument_book", "POST"): (
        "/instruments/{instrument}/book",
        {"team_id": "{team}"},
        "U ok ok F F F F F F",
    ),
    ("web.booking_list", "GET"): ("/bookings", None, "U ok ok ok ok ok ok ok ok"),
    ("web.booking_detail", "GET"): ("/bookings/{booking}", None, "U ok N ok N ok N ok ok"),
    ("web.booking_cancel", "POST"): ("/bookings/{booking}/cancel", {}, "U ok N ok N F N F ok"),
    ("web.booking_reschedule", "POST"): ("/bookings/{booking}/reschedule", {}, "U ok N F F F F F F"),
    ("web.booking_series_detail", "GET"): ("/booking-series/{series}", None, "U ok N ok N N N N ok"),
    ("web.booking_series_cancel", "POST"): ("/booking-series/{series}/cancel", {}, "U ok N F F F F F F"),
    ("web.booking_refund", "POST"): (
        "/bookings/{booking}/refund",
        {"refund-amount": "1"},
        "U F F F F F F F ok",
    ),
    # a booking under way on an instrument with self check-in (the lab uses /lab/bookings/...)
    ("web.booking_self_check_in", "POST"): ("/bookings/{self_booking}/check-in", {}, "U ok N F F F F F F"),
    ("web.booking_self_check_out", "POST"): ("/bookings/{self_booking}/check-out", {}, "U ok N F F F F F F"),
    ("web.instrument_check_in", "GET"): ("/instruments/{instrument}/check-in", None, "U ok ok F F F F F F"),
    ("web.instrument_kiosk", "GET"): ("/instruments/{instrument}/kiosk", None, "U F F ok F F F F ok"),
    ("web.lab_console", "GET"): ("/lab", None, "U F F ok F F F F ok"),
    ("web.lab_statements", "GET"): ("/lab/statements?period={period}", None, "U F F ok F F F F ok"),
    ("web.lab_statement_download", "GET"): (
        "/lab/statements/download?period={period}&format=csv",
        None,
        "U F F ok F F F F ok",
    ),
    ("web.lab_booking_approve", "POST"): ("/lab/bookings/{booking}/approve", {}, "U F F ok F F F F ok"),
    ("web.lab_booking_reject", "POST"): ("/lab/bookings/{booking}/reject", {}, "U F F ok F F F F ok"),
    ("web.lab_booking_check_in", "POST"): ("/lab/bookings/{booking}/check-in", {}, "U F F ok F F F F ok"),
    ("web.lab_booking_check_out", "POST"): ("/lab/bookings/{booking}/check-out", {}, "U F F ok F F F F ok"),
    ("web.lab_booking_undo_check_in", "POST"): (
        "/lab/bookings/{booking}/undo-check-in",
        {},
        "U F F ok F F F F ok",
    ),
    ("web.service_list", "GET"): ("/services", None, "U ok ok ok ok ok ok ok ok"),
    ("web.service_detail", "GET"): ("/services/{service}", None, "U ok ok ok ok ok ok ok ok"),
    ("web.lab_service_new", "GET"): ("/lab/services/new", None, "U F F ok F F F F ok"),
    ("web.lab_service_new", "POST"): ("/lab/services/new", _service_form, "U F F ok F F F F ok"),
    ("web.lab_service", "GET"): ("/lab/services/{service}", None, "U F F ok F F F F ok"),
    ("web.lab_service", "POST"): ("/lab/services/{service}", _service_form, "U F F ok F F F F ok"),
    ("web.lab_service_deactivate", "POST"): ("/lab/services/{service}/deactivate", {}, "U F F ok F F F F ok"),
    ("web.lab_service_reactivate", "POST"): ("/lab/services/{service}/reactivate", {}, "U F F ok F F F F ok"),
    ("web.lab_instrument_new", "GET"): ("/lab/instruments/new", None, "U F F ok F F F F ok"),
    ("web.lab_instrument_new", "POST"): ("/lab/instruments/new", {"name": "X"}, "U F F ok F F F F ok"),
    ("web.lab_instrument", "GET"): ("/lab/instruments/{instrument}", None, "U F F ok F F F F ok"),
    ("web.lab_instrument", "POST"): ("/lab/instruments/{instrument}", {"name": "X"}, "U F F ok F F F F ok"),
    ("web.lab_instrument_hours", "POST"): ("/lab/instruments/{instrument}/hours", {}, "U F F ok F F F F ok"),
    ("web.lab_closures", "GET"): ("/lab/labs/{closed_lab}/closures", None, "U F F ok F F F F ok"),
    ("web.lab_closures", "POST"): (
        "/lab/labs/{closed_lab}/closures",
        {"starts_at": "2027-03-01T09:00", "ends_at": "2027-03-01T12:00", "reason": "停电"},
        "U F F ok F F F F ok",
    ),
    ("web.lab_closure_remove", "POST"): ("/lab/closures/{closure}/remove", {}, "U F F ok F F F F ok"),
    ("web.instrument_waitlist_join", "POST"): (
        "/instruments/{instrument}/waitlist",
        {"team_id": "{team}", "date": "2027-03-01", "starts": "10:00", "ends": "11:00"},
        "U ok N F F F F F F",
    ),
    ("web.waitlist_list", "GET"): ("/waitlist", None, "U ok ok F F F F F F"),
    ("web.waitlist_remove", "POST"): ("/waitlist/{waitlist_entry}/remove", {}, "U ok N F F F F F F"),
    ("web.lab_blackout_add", "POST"): ("/lab/instruments/{instrument}/blackouts", {}, "U F F ok F F F F ok"),
    ("web.lab_blackout_remove", "POST"): (
        "/lab/instruments/{instrument}/blackouts/{blackout}/remove",
        {},
        "U F F ok F F F F ok",
    ),
    ("web.lab_qualification_grant", "POST"): (
        "/lab/instruments/{instrument}/qualifications",
        {"email": "{spare_email}"},
        "U F F ok F F F F ok",
    ),
    ("web.lab_qualification_revoke", "POST"): (
        "/lab/instruments/{instrument}/qualifications/{owner}/revoke",
        {},
        "U F F ok F F F F ok",
    ),
    ("web.instrument_training_request", "POST"): (
        "/instruments/{trained_instrument}/training-request",
        {"note": "Tuesdays"},
        "U ok ok F F F F F F",
    ),
    ("web.lab_training_grant", "POST"): ("/lab/training/{training_request}/grant", {}, "U F F ok F F F F ok"),
    ("web.lab_training_decline", "POST"): (
        "/lab/training/{training_request}/decline",
        {"decline-training-{training_request}-reason": "Full"},
        "U F F ok F F F F ok",
    ),
    ("web.program_list", "GET"): ("/programs", None, "U ok ok ok ok ok ok ok ok"),
    ("web.program_list", "POST"): ("/programs", {"name": "P"}, "U F F F F ok ok ok F"),
    ("web.program_detail", "GET"): ("/programs/{program}", None, "U ok ok N N ok N N ok"),
    ("web.program_edit", "GET"): ("/programs/{program}/edit", None, "U F F F F ok N N ok"),
    ("web.program_edit", "POST"): ("/programs/{program}/edit", {"name": "P"}, "U F F F F ok N N ok"),
    ("web.program_apply", "GET"): ("/programs/{program}/apply", None, "U ok ok F F F F F F"),
    ("web.program_apply", "POST"): (
        "/programs/{program}/apply",
        {"team_id": "{team}"},
        "U ok ok F F F F F F",
    ),
    ("web.application_list", "GET"): ("/applications", None, "U ok ok ok ok ok ok ok ok"),
    ("web.application_approve", "POST"): ("/applications/{application}/approve", {}, "U F N N N ok N N F"),
    ("web.application_reject", "POST"): ("/applications/{application}/reject", {}, "U F N N N ok N N F"),
    ("web.voucher_revoke", "POST"): ("/vouchers/{voucher}/revoke", {}, "U F F N N ok N N F"),
    ("web.finance_dashboard", "GET"): ("/finance", None, "U F F F F ok ok ok ok"),
    ("web.finance_reconciliation", "GET"): ("/finance/reconciliation", None, "U F F F F ok ok ok ok"),
    ("web.finance_reconciliation_run", "POST"): ("/finance/reconciliation", {}, "U F F F F ok ok ok ok"),
    ("web.finance_exceptions", "GET"): ("/finance/exceptions", None, "U F F F F ok ok ok ok"),
    ("web.finance_exception_resolve", "POST"): (
        "/finance/exceptions/{exception}/resolve",
        {},
        "U F F F F ok N ok ok",
    ),
    ("web.finance_statements", "GET"): ("/finance/statements?period={period}", None, "U F F F F ok ok ok ok"),
    ("web.finance_statement_download", "GET"): (
        "/finance/statements/download?period={period}&format=csv",
        None,
        "U F F F F ok ok ok ok",
    ),
    ("web.finance_export_create", "POST"): (
        "/finance/exports",
        {"kind": "statement", "format": "csv", "period": "{period}"},
        "U F F F F ok ok ok ok",
    ),
    ("web.finance_export", "GET"): ("/finance/exports/{export}", None, "U F F F F ok N N ok"),
    ("web.finance_export_download", "GET"): (
        "/finance/exports/{export}/download",
        None,
        "U F F F F ok N N ok",
    ),
    ("web.finance_periods", "GET"): ("/finance/periods", None, "U F F F F ok ok ok ok"),
    ("web.finance_period_close", "POST"): (
        "/finance/periods/close",
        {"period": "{period}", "confirm": "y"},
        "U F F F F F F ok ok",
    ),
    ("web.finance_payouts", "GET"): ("/finance/payouts?period={period}", None, "U F F F F ok ok ok ok"),
    ("web.finance_payout", "POST"): ("/finance/payouts/lab/{lab}", {}, "U F F F F ok ok ok F"),
    # --- HTML: redemption claims (the world's claim is the lab's, with a 500106 and a municipal share)
    ("web.lab_claims", "GET"): ("/lab/claims", None, "U F F ok F F F F F"),
    ("web.provider_claims", "GET"): ("/provider/claims", None, "U F F F ok F F F F"),
    ("web.claim_file", "POST"): ("/claims", {}, "U F F ok ok F F F F"),
    ("web.claim_page", "GET"): ("/claims/{claim}", None, "U F F ok F ok N ok ok"),
    ("web.claim_attach", "POST"): ("/claims/{claim}/attachments", {}, "U F F ok F F F F F"),
    ("web.claim_attachment", "GET"): (
        "/claims/{claim}/attachments/{claim_attachment}",
        None,
        "U F F ok F ok N ok ok",
    ),
    ("web.claim_approve", "POST"): ("/claims/{claim}/approve", {}, "U F F F F ok N ok F"),
    ("web.claim_reject", "POST"): ("/claims/{claim}/reject", {}, "U F F F F ok N ok F"),
    ("web.claim_pay", "POST"): ("/claims/{claim}/pay", {}, "U F F F F ok N ok F"),
    ("web.finance_claims", "GET"): ("/finance/claims", None, "U F F F F ok ok ok ok"),
    ("web.finance_audit", "GET"): ("/finance/audit", None, "U F F F F ok ok ok ok"),
    ("web.finance_lab_report", "GET"): ("/finance/lab-report?period={period}", None, "U F F F F ok ok ok ok"),
    ("web.finance_lab_report_download", "GET"): (
        "/finance/lab-report/download?period={period}",
        None,
        "U F F F F ok ok ok ok",
    ),
    # --- the account page
    ("web.account", "GET"): ("/account", None, "U ok ok ok ok ok ok ok ok"),
    ("web.account_language", "POST"): ("/account/language", {"locale": "en"}, "U ok ok ok ok ok ok ok ok"),
    ("web.account_token_new", "POST"): ("/account/tokens", {}, "U ok ok ok ok ok ok ok ok"),
    ("web.account_token_revoke", "POST"): ("/account/tokens/{token}/revoke", {}, "U ok N N N N N N N"),
    ("web.account_feed_new", "POST"): ("/account/feeds", {"scope": "user"}, "U ok ok ok ok ok ok ok ok"),
    ("web.account_feed_revoke", "POST"): ("/account/feeds/{feed}/revoke", {}, "U ok N N N N N N N"),
    ("web.account_password", "POST"): ("/account/password", {}, "U ok ok ok ok ok ok ok ok"),
    ("web.account_sign_out_everywhere", "POST"): (
        "/account/sign-out-everywhere",
        {},
        "U ok ok ok ok ok ok ok ok",
    ),
    ("web.password_reset_request", "GET"): ("/password-reset", None, "ok ok ok ok ok ok ok ok ok"),
    ("web.password_reset_request", "POST"): (
        "/password-reset",
        {"email": "{spare_email}"},
        "ok ok ok ok ok ok ok ok ok",
    ),
    ("web.password_reset_confirm", "GET"): (
        "/password-reset/confirm?token=not-a-reset-token",
        None,
        "ok ok ok ok ok ok ok ok ok",
    ),
    ("web.password_reset_confirm", "POST"): (
        "/password-reset/confirm?token=not-a-reset-token",
        {"new_password": "a-new-Password-1", "new_password_again": "a-new-Password-1"},
        "ok ok ok ok ok ok ok ok ok",
    ),
    # --- compute
    ("web.compute_offers", "GET"): ("/compute", None, "U ok ok ok ok ok ok ok ok"),
    ("web.compute_offer", "GET"): ("/compute/offers/{offer}", None, "U ok ok ok ok ok ok ok ok"),
    ("web.compute_book", "POST"): (
        "/compute/offers/{offer}/book",
        {"team_id": "{team}"},
        "U ok ok F F F F F F",
    ),
    # --- the provider console
    ("web.provider_console", "GET"): ("/provider", None, "U F F F ok F F F ok"),
    ("web.provider_statements", "GET"): ("/provider/statements?period={period}", None, "U F F F ok F F F ok"),
    ("web.provider_statement_download", "GET"): (
        "/provider/statements/download?period={period}&format=csv",
        None,
        "U F F F ok F F F ok",
    ),
    ("web.provider_offer_new", "POST"): ("/provider/offers", {"name": "H"}, "U F F F ok F F F ok"),
    ("web.provider_offer_edit", "GET"): ("/provider/offers/{offer}/edit", None, "U F F F ok F F F ok"),
    ("web.provider_offer_edit", "POST"): (
        "/provider/offers/{offer}/edit",
        {"name": "H"},
        "U F F F ok F F F ok",
    ),
    ("web.provider_offer_activate", "POST"): ("/provider/offers/{offer}/activate", {}, "U F F F ok F F F ok"),
    ("web.provider_offer_deactivate", "POST"): (
        "/provider/offers/{offer}/deactivate",
        {},
        "U F F F ok F F F ok",
    ),
    ("web.provider_usage", "GET"): ("/provider/usage", None, "U F F F ok F F F ok"),
    ("web.provider_usage_template", "GET"): ("/provider/usage/template.csv", None, "U F F F ok F F F ok"),
    ("web.provider_usage_upload", "POST"): ("/provider/usage/upload", {}, "U F F F ok F F F F"),
    # --- administration
    ("web.admin_overview", "GET"): ("/admin", None, "U F F F F F F F ok"),
    ("web.admin_users", "GET"): ("/admin/users", None, "U F F F F F F F ok"),
    ("web.admin_users", "POST"): ("/admin/users", _user, "U F F F F F F F ok"),
    ("web.admin_user", "GET"): ("/admin/users/{spare_founder}", None, "U F F F F F F F ok"),
    ("web.admin_user", "POST"): (
        "/admin/users/{spare_founder}",
        {"name": "Renamed", "role": "founder", "district_code": "", "provider_id": "", "lab_id": ""},
        "U F F F F F F F ok",
    ),
    ("web.admin_user_deactivate", "POST"): (
        "/admin/users/{spare_founder}/deactivate",
        {"confirmed": "yes"},
        "U F F F F F F F ok",
    ),
    ("web.admin_user_reactivate", "POST"): (
        "/admin/users/{spare_founder}/reactivate",
        {"confirmed": "yes"},
        "U F F F F F F F ok",
    ),
    ("web.admin_user_password_reset", "POST"): (
        "/admin/users/{spare_founder}/password-reset",
        {},
        "U F F F F F F F ok",
    ),
    ("web.admin_labs", "GET"): ("/admin/labs", None, "U F F F F F F F ok"),
    ("web.admin_labs", "POST"): ("/admin/labs", _place, "U F F F F F F F ok"),
    ("web.admin_lab_managers", "POST"): (
        "/admin/labs/{lab}/managers",
        {"user_id": "{spare_lab_manager}"},
        "U F F F F F F F ok",
    ),
    ("web.admin_providers", "GET"): ("/admin/providers", None, "U F F F F F F F ok"),
    ("web.admin_providers", "POST"): (
        "/admin/providers",
        {"name": "P", "organization": "云 Co"},
        "U F F F F F F F ok",
    ),
    # --- service orders (HTML)
    ("web.service_order", "POST"): (
        "/services/{service}/order",
        {"team_id": "{team}", "samples": "1", "answer_material": "硅片"},
        "U ok ok F F F F F F",
    ),
    ("web.order_list", "GET"): ("/orders", None, "U ok ok ok ok ok ok ok ok"),
    ("web.order_detail", "GET"): ("/orders/{order}", None, "U ok N ok N ok N ok ok"),
    ("web.order_result", "GET"): (
        "/orders/{order}/results/{order_result}",
        None,
        "U ok N ok N N N N ok",
    ),
    ("web.order_cancel", "POST"): ("/orders/{order}/cancel", {}, "U ok N F F F F F F"),
    ("web.order_rate", "POST"): ("/orders/{order}/rating", {"rating-score": "5"}, "U ok N F F F F F F"),
    ("web.lab_orders", "GET"): ("/lab/orders", None, "U F F ok F F F F ok"),
    ("web.lab_order_accept", "POST"): ("/lab/orders/{order}/accept", {}, "U F F ok F F F F ok"),
    ("web.lab_order_reject", "POST"): (
        "/lab/orders/{order}/reject",
        {"reject-reason": "维修"},
        "U F F ok F F F F ok",
    ),
    ("web.lab_order_receive", "POST"): ("/lab/orders/{order}/receive", {}, "U F F ok F F F F ok"),
    ("web.lab_order_results", "POST"): ("/lab/orders/{order}/results", {}, "U F F ok F F F F ok"),
    ("web.lab_order_complete", "POST"): (
        "/lab/orders/{order}/complete",
        {"complete-samples_processed": "1"},
        "U F F ok F F F F ok",
    ),
}

IGNORED_ENDPOINTS = {"static"}
IGNORED_METHODS = {"HEAD", "OPTIONS"}


def _route_methods(app) -> dict[tuple[str, str], object]:
    """(endpoint, method) → the function that decides access (the MethodView method for the API)."""
    found = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint in IGNORED_ENDPOINTS:
            continue
        view = app.view_functions[rule.endpoint]
        view_class = getattr(view, "view_class", None)
        for method in sorted(rule.methods - IGNORED_METHODS):
            func = getattr(view_class, method.lower(), None) if view_class is not None else view
            found[(rule.endpoint, method)] = func
    return found


def _is_html(endpoint: str) -> bool:
    return endpoint.startswith("web.")


def _fill(value, ids: dict):
    if isinstance(value, str):
        if re.fullmatch(r"\{\w+\}", value) and isinstance(ids.get(value[1:-1]), int):
            return ids[value[1:-1]]
        return value.format(n=next(_n), **ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


# --- the structural checks ------------------------------------------------------------------------------


def test_every_view_carries_an_access_mark(app):
    unmarked = sorted(
        f"{e} {m}" for (e, m), f in _route_methods(app).items() if not getattr(f, "_access_roles", None)
    )
    assert not unmarked, "views without api_auth/public or @page/@public_page: " + ", ".join(unmarked)


def test_every_endpoint_has_an_expectation(app):
    routes = set(_route_methods(app))
    missing = sorted(f"{e} {m}" for e, m in routes - set(RULES))
    stale = sorted(f"{e} {m}" for e, m in set(RULES) - routes)
    assert not missing, "add rows to RULES in tests/web/test_access_matrix.py for: " + ", ".join(missing)
    assert not stale, "RULES rows for endpoints that no longer exist: " + ", ".join(stale)


def test_expectations_agree_with_the_declared_roles(app):
    """A role the decorator refuses must be expected to get 403; anonymous gets 401 unless public."""
    problems = []
    for key, func in _route_methods(app).items():
        if key not in RULES:
            continue
        expected = dict(zip(ROLES, RULES[key][2].split(), strict=True))
        declared = getattr(func, "_access_roles", ())
        public = "public" in declared
        if (expected["anonymous"] == "U") == public:
            problems.append(f"{key}: anonymous")
        if public or "*" in declared:
            continue
        for role, role_name in ROLE_OF.items():
            if role_name not in declared and expected[role] != "F":
                problems.append(f"{key}: {role} is not among {declared} but expected {expected[role]}")
    assert not problems, "\n".join(problems)


def test_rows_are_well_formed():
    for key, (_path, _body, statuses) in RULES.items():
        tokens = statuses.split()
        assert len(tokens) == len(ROLES), key
        assert set(tokens) <= {"U", "F", "N", "ok"}, key


# --- the matrix itself ----------------------------------------------------------------------------------


class Caller:
    """One role's way in: a bearer token for the API, a signed-in browser session for HTML pages.
    With ``world``, the world's token and signed-in session of the role; without, made here."""

    def __init__(self, app, make, user, world: World | None = None, role: str | None = None):
        self.app = app
        self.user = user
        if world is not None:
            self.token = world.tokens[role]
            self._session = world.sessions[role]
        else:
            self.token = make.token_for(user) if user is not None else None
            self._session = None
        self._browser = None

    def browser(self):
        """A test client signed in through the form (made on first use: API rows need none), or one
        holding a copy of the world's signed-in session (its cookies; changes stay in this copy)."""
        if self._browser is None:
            self._browser = self.app.test_client()
            if self._session is not None:
                cookies, self.csrf = self._session
                self._browser._cookies.update(cookies)
                return self._browser
            if self.user is not None:
                sign_in(self._browser, self.user)
            page = self._browser.get("/" if self.user is not None else "/sign-in", follow_redirects=True)
            page = page.get_data(as_text=True)  # "/" is each role's home; most roles are sent on to a console
            self.csrf = CSRF_RE.search(page).group(1)
        return self._browser

    def request(self, endpoint: str, method: str, path: str, body):
        if _is_html(endpoint):
            browser = self.browser()
            data = {**(body or {}), "csrf_token": self.csrf} if method == "POST" else None
            return browser.open(path, method=method, data=data)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        client = self.app.test_client()  # no cookies: the API never uses the session
        if body is None:
            return client.open(path, method=method, headers=headers)
        return client.open(path, method=method, headers=headers, json=body)


def _verdict(endpoint: str, response) -> str:
    status = response.status_code
    if status >= 500:
        return f"5xx({status})"
    if status == 401:
        return "U" if not _is_html(endpoint) else "401"
    if status in (302, 303) and _is_html(endpoint) and "/sign-in" in response.headers.get("Location", ""):
        return "U"
    if status == 403:
        return "F"
    if status == 404:
        return "N"
    return "ok"


@pytest.mark.parametrize("key", sorted(RULES), ids=lambda key: f"{key[0]}-{key[1]}")
def test_access_matrix(app, make, world, isolated_db, key):
    endpoint, method = key
    path_template, body_template, statuses = RULES[key]
    expected = dict(zip(ROLES, statuses.split(), strict=True))
    callers = {role: Caller(app, make, user, world, role) for role, user in world.users.items()}
    got, details = {}, {}
    for role in ROLES:
        savepoint = isolated_db.begin_nested()
        try:
            path = _fill(path_template, world.ids)
            body = _fill(body_template, world.ids)
            response = callers[role].request(endpoint, method, path, body)
        finally:
            savepoint.rollback()
        got[role] = _verdict(endpoint, response)
        details[role] = f"{response.status_code} {response.get_data()[:200].decode(errors='replace')!r}"
        if got[role] in ("U", "F", "N") and not _is_html(endpoint):
            assert set(response.json["error"]) == {"code", "message", "details"}, (role, response.json)
        if got[role] == "U" and not _is_html(endpoint):
            assert response.headers.get("WWW-Authenticate") == "Bearer"
    if os.environ.get("RECORD_ACCESS"):
        print(f'\n{key}: "{" ".join(got[r] for r in ROLES)}"')
    wrong = [
        f"{r}: expected {expected[r]}, got {got[r]} ({details[r]})" for r in ROLES if got[r] != expected[r]
    ]
    assert not wrong, f"{endpoint} {method} {path_template}\n" + "\n".join(wrong)
