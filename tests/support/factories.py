"""Factories for test data. They build objects through the same operations the app uses and commit
(inside the test's SAVEPOINT), so the objects are visible to requests made by the test client."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from booking.core import clock
from booking.core.db import db, write_intent
from booking.flow import bookings, compute
from booking.models import Provider, Team, User
from booking.people import accounts, providers, teams
from instruments import catalogue, labs, services
from instruments.models import Instrument, Lab, Service
from vouchers import programs
from vouchers.models import Program, Voucher

WEEKDAYS_8_TO_18 = tuple((day, 8 * 60, 18 * 60) for day in range(5))
INSTRUMENT_DEFAULTS = {
    "category": "microscopy",
    "hourly_rate_fen": 10_000,
    "operation_mode": "market",
    "slot_minutes": 30,
    "min_minutes": 30,
    "max_minutes": 480,
    "lead_minutes": 60,
    "horizon_days": 90,
    "requires_approval": False,
    "requires_training": False,
    "free_cancel_hours": 24,
    "late_cancel_fee_bp": 5000,
    "no_show_grace_minutes": 15,
    "no_show_fee_bp": 10000,
    "timezone": "Asia/Shanghai",
}


_seq = itertools.count(1)


class Factory:
    def __init__(self, app, password: str):
        self.app = app
        self.password = password
        self._tokens: dict[tuple, str] = {}

    def _unit(self, build):
        with self.app.app_context(), write_intent():
            obj = build()
            db.session.commit()
            return obj

    def user(self, role: str = "founder", **kw) -> User:
        n = next(_seq)
        if role == "provider" and "provider_id" not in kw:
            kw["provider_id"] = self.provider().id
        return self._unit(
            lambda: accounts.create_user(
                email=kw.pop("email", f"{role}{n}@example.cn"),
                password=kw.pop("password", self.password),
                name=kw.pop("name", f"{role.title()} {n}"),
                role=role,
                **kw,
            )
        )

    def finance(self, district_code: str | None = "500106") -> User:
        return self.user("finance", district_code=district_code)

    def team(
        self, owner: User | None = None, district_code: str = "500106", verified: bool = False, **kw
    ) -> Team:
        owner = owner or self.user("founder")
        n = next(_seq)

        def build():
            team = teams.create_team(
                db.session.get(User, owner.id),
                name=kw.get("name", f"Team {n}"),
                university=kw.get("university", "重庆大学"),
                district_code=district_code,
                organization=kw.get("organization", f"Startup {n} Ltd"),
            )
            if verified:
                team.verified = True
            return team

        return self._unit(build)

    def lab(self, district_code: str = "500106", manager: User | None = None, **kw) -> Lab:
        n = next(_seq)

        def build():
            lab = labs.create_lab(
                name=kw.get("name", f"Lab {n}"),
                university=kw.get("university", "重庆大学"),
                district_code=district_code,
                organization=kw.get("organization", "重庆大学"),
            )
            if manager is not None:
                labs.add_lab_manager(lab, manager.id)
            return lab

        return self._unit(build)

    def provider(self, **kw) -> Provider:
        n = next(_seq)
        return self._unit(
            lambda: providers.create_provider(
                name=kw.get("name", f"Provider {n}"), organization=kw.get("organization", f"Cloud {n} Co")
            )
        )

    def instrument(self, lab: Lab | None = None, hours=WEEKDAYS_8_TO_18, **policy) -> Instrument:
        lab = lab or self.lab()
        n = next(_seq)
        fields = {**INSTRUMENT_DEFAULTS, "name": f"Instrument {n}", **policy}

        def build():
            instrument = catalogue.create_instrument(db.session.get(Lab, lab.id), **fields)
            catalogue.set_opening_hours(instrument, list(hours))
            return instrument

        return self._unit(build)

    def service(self, lab: Lab | None = None, **fields) -> Service:
        """A testing service of the lab (a new lab without one), with a two-question sample form."""
        lab = lab or self.lab()
        n = next(_seq)
        fields = {
            "name": f"Service {n}",
            "category": "SEM",
            "price_per_sample_fen": 20_000,
            "turnaround_days": 5,
            "max_samples": 10,
            "sample_fields": [
                {"key": "material", "label": "材料", "type": "text", "required": True},
                {
                    "key": "coating",
                    "label": "镀膜",
                    "type": "choice",
                    "required": False,
                    "choices": ["金", "碳"],
                },
            ],
            **fields,
        }
        active = fields.pop("active", True)

        def build():
            service = services.create_service(db.session.get(Lab, lab.id), **fields)
            if not active:
                services.update_service(service, active=False)
            return service

        return self._unit(build)

    def qualify(self, instrument: Instrument, user: User) -> None:
        self._unit(
            lambda: catalogue.grant_qualification(
                db.session.get(Instrument, instrument.id), user.id, db.session.get(User, user.id)
            )
        )

    def blackout(self, instrument: Instrument, starts_at, ends_at) -> None:
        self._unit(
            lambda: catalogue.add_blackout(
                db.session.get(Instrument, instrument.id),
                starts_at=starts_at,
                ends_at=ends_at,
                reason="maintenance",
                by=None,
            )
        )

    def booking(self, team: Team, instrument: Instrument, starts_at, ends_at, by: User | None = None, **kw):
        """A booking made through the real flow (as of ``kw['now']`` if given, default: a day before)."""
        now = kw.pop("now", starts_at - timedelta(days=1))
        actor_id = by.id if by is not None else team.owner_id

        def build():
            with clock.frozen_at(now):
                booking, _ = bookings.create_instrument_booking(
                    db.session.get(User, actor_id),
                    team_id=team.id,
                    instrument_id=instrument.id,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    **kw,
                )
            return booking

        return self._unit(build)

    def program(self, officer: User | None = None, level: str = "municipal", **kw) -> Program:
        """A funded programme, created by its finance office through the real operation."""
        district_code = kw.pop("district_code", "500106")
        if officer is None:
            officer = self.finance(None if level == "municipal" else district_code)
        fields = {
            "name": f"算力券 {next(_seq)}",
            "level": level,
            "resource_kinds": ["compute", "instrument"],
            "rate_bp": 3000,
            "budget_fen": 10_000_000,
            "per_team_cap_fen": 1_000_000,
            "valid_from": date(2026, 1, 1),
            "valid_to": date(2027, 12, 31),
            "voucher_validity_days": 365,
            **kw,
        }
        if level == "district":
            fields.setdefault("district_code", district_code)
        return self._unit(lambda: programs.create_program(db.session.get(User, officer.id), **fields))

    def voucher(self, team: Team, program: Program, amount_fen: int = 500_000, at=None) -> Voucher:
        """Apply for and approve a voucher (as of ``at``, default now)."""

        def build():
            with clock.frozen_at(at or clock.now()):
                owner = db.session.get(User, team.owner_id)
                application = programs.apply(
                    owner, program.id, team_id=team.id, amount_fen=amount_fen, purpose="GPU"
                )
                officer = db.session.get(User, program.created_by_id)
                return programs.approve(officer, application.id)

        return self._unit(build)

    def offer(self, provider: Provider | None = None, **kw):
        provider = provider or self.provider()
        fields = {
            "name": "A100 集群",
            "gpu_model": "A100-80G",
            "gpus_total": 8,
            "price_per_gpu_hour_fen": 1_000,
            **kw,
        }
        return self._unit(lambda: compute.create_offer(db.session.get(Provider, provider.id), **fields))

    def compute_booking(self, team: Team, offer, starts_at, ends_at, gpus: int = 1, now=None, **kw):
        def build():
            with clock.frozen_at(now or starts_at - timedelta(hours=1)):
                booking, _ = compute.create_compute_booking(
                    db.session.get(User, team.owner_id),
                    team_id=team.id,
                    offer_id=offer.id,
                    gpus=gpus,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    **kw,
                )
            return booking

        return self._unit(build)

    def token_for(self, user: User, ttl: timedelta = timedelta(days=3650)) -> str:
        # long-lived: tests freeze the clock at dates ahead of today
        key = (user.id, user.created_at)  # ids are reused after a wipe; creation times are not
        if key not in self._tokens:
            self._tokens[key] = self._unit(
                lambda: accounts.issue_token(db.session.get(User, user.id), ttl)[1]
            )
        return self._tokens[key]
