"""The demo world behind ``flask --app wsgi demo load``: a believable Chongqing on an empty database.

Two universities' labs (重庆大学 in 沙坪坝区, 西南大学 in 北碚区) with instruments and opening hours, two
compute providers with GPU offers, the municipal 算力券 and two district programmes, verified founder
teams holding vouchers, bookings in the month before this one (checked in and out, metered, reconciled
and the month closed) and bookings ahead. Everything is built through the operations the app uses, so
the data obeys every rule; the past is made by freezing the clock at past instants. The mails those
operations queue (confirmations of last month's bookings, to example.cn addresses) are dropped unsent.

``load_world`` only flushes, except the final reconciliation, which commits per batch as it always
does; the command (``booking.jobs.cli``) commits the rest. It returns the accounts it made as
(e-mail, password, role), each with a fresh random password.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import delete

from booking.core import clock
from booking.core.config import ProductionConfig, config_for_environment
from booking.core.db import db
from booking.flow import attendance, bookings, compute, usage
from booking.jobs import demo_orders
from booking.models import BookingStatus, OutboxMessage, Team, User
from booking.people import accounts, providers, teams
from booking.people.passwords import password_problems
from instruments import catalogue, labs, services
from vouchers import periods, programs, reconciliation

ZONE = ZoneInfo("Asia/Shanghai")
DOMAIN = "example.cn"
WEEKDAYS_8_30_TO_17_30 = [(day, 8 * 60 + 30, 17 * 60 + 30) for day in range(5)]
SATURDAY_MORNINGS = [(5, 9 * 60, 12 * 60)]

# (e-mail local part, display name, role, district code)
PEOPLE = [
    ("admin", "平台管理员 张敏", "admin", None),
    ("finance.city", "重庆市财政局 李娟", "finance", None),
    ("finance.shapingba", "沙坪坝区财政局 周凯", "finance", "500106"),
    ("finance.beibei", "北碚区财政局 何静", "finance", "500109"),
    ("lab.cqu", "重庆大学分析测试中心 陈老师", "lab_manager", None),
    ("lab.swu", "西南大学生命科学学院 刘老师", "lab_manager", None),
]

LABS = [
    {
        "key": "cqu",
        "name": "重庆大学分析测试中心",
        "university": "重庆大学",
        "district_code": "500106",
        "instruments": [
            ("扫描电镜 SEM (蔡司 Sigma 300)", "microscopy", 30_000, False, "A 区 105"),
            ("X射线衍射仪 XRD (布鲁克 D8 Advance)", "diffraction", 20_000, False, "A 区 112"),
        ],
        # testing services: (name, category, description, price per sample in fen, days, most samples)
        "services": [
            ("扫描电镜形貌观察", "SEM", "二次电子像，最高 10 万倍；不导电样品可喷金。", 30_000, 5, 20),
            ("粉末 XRD 物相分析", "XRD", "10–80° 常规扫描，附物相检索报告。", 20_000, 7, 30),
        ],
    },
    {
        "key": "swu",
        "name": "西南大学生命科学学院公共平台",
        "university": "西南大学",
        "district_code": "500109",
        "instruments": [
            ("激光共聚焦显微镜 (徕卡 SP8)", "microscopy", 25_000, True, "生科楼 3 楼"),
            ("流式细胞仪 (BD FACSCanto II)", "cytometry", 15_000, False, "生科楼 2 楼"),
        ],
        "services": [("细胞周期流式检测", "流式", "PI 单染，每样品 1 万个细胞。", 15_000, 3, 24)],
    },
]

PROVIDERS = [
    {
        "key": "liangjiang",
        "name": "两江算力中心",
        "organization": "重庆两江算力科技有限公司",
        "offers": [("A800 训练集群", "A800-80G", 16, 1_200), ("RTX 4090 推理池", "RTX-4090-24G", 32, 250)],
    },
    {
        "key": "kxc",
        "name": "西部科学城智算中心",
        "organization": "重庆西部科学城智算运营有限公司",
        "offers": [("H800 大模型集群", "H800-80G", 8, 2_000)],
    },
]

# what each demo service asks about a sample
DEMO_SAMPLE_FIELDS = [
    {"key": "sample_name", "label": "样品名称", "type": "text", "required": True},
    {
        "key": "form",
        "label": "样品形态",
        "type": "choice",
        "required": True,
        "choices": ["粉末", "块体", "薄膜", "液体"],
    },
    {"key": "quantity_mg", "label": "样品量 (mg)", "type": "number", "required": False},
    {"key": "hazards", "label": "危险性说明", "type": "text", "required": False},
]

# (key, team name, founder's name, university, district, company)
TEAMS = [
    ("zhimou", "山城智眸", "王磊", "重庆大学", "500106", "重庆山城智眸科技有限公司"),
    ("weina", "嘉陵微纳材料", "赵雪", "重庆大学", "500106", "重庆嘉陵微纳材料有限公司"),
    ("jinyun", "缙云生物", "孙悦", "西南大学", "500109", "重庆缙云生物技术有限公司"),
    ("yuzhi", "渝智语言模型", "黄浩", "重庆大学", "500112", "重庆渝智人工智能有限公司"),
]


@dataclass
class World:
    """What the load made, by short keys, and the accounts to print."""

    users: dict[str, User] = field(default_factory=dict)
    instruments: list = field(default_factory=list)
    offers: dict[str, list] = field(default_factory=dict)
    teams: dict[str, Team] = field(default_factory=dict)
    accounts: list[tuple[str, str, str]] = field(default_factory=list)


def refusal() -> str | None:
    """Why the demo world may not be loaded here, or None."""
    production = current_app.config.get("ENV_NAME") == "production"
    if production or config_for_environment() is ProductionConfig:
        return "refused: APP_ENV is production; the demo world is for development databases only."
    if accounts.count_users():
        return "refused: the database already has users; demo load runs on an empty database only."
    return None


def new_password(email: str) -> str:
    while True:
        password = secrets.token_urlsafe(12)
        if not password_problems(password, email):
            return password


def _person(world: World, key: str, name: str, role: str, **kw) -> User:
    email = f"{key}@{DOMAIN}"
    password = new_password(email)
    user = accounts.create_user(email=email, password=password, name=name, role=role, **kw)
    world.users[key] = user
    world.accounts.append((email, password, role))
    return user


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZONE)


def _weekdays(first: date, last: date) -> list[date]:
    days, day = [], first
    while day <= last:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def _month_before(today: date) -> tuple[date, date]:
    last = today.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


def load_world() -> list[tuple[str, str, str]]:
    """Build the world as of now; returns the accounts as (e-mail, password, role)."""
    now = clock.now()
    today = now.astimezone(ZONE).date()
    month_start, month_end = _month_before(today)
    world = World()
    with clock.frozen_at(_at(month_start - timedelta(days=12), 10)):
        _people_and_places(world)
        _programmes_and_teams(world, valid_to=date(today.year + 1, 12, 31))
    _past_month(world, month_start, month_end)
    demo_orders.past_month_orders(world, _at, _weekdays(month_start, month_end))
    demo_orders.orders_and_series_ahead(world, now, _at, _bookings_ahead(world, now))
    with clock.frozen_at(_at(month_end, 23, 30)):
        reconciliation.reconcile(clock.now(), triggered_by_id=world.users["finance.city"].id)
    periods.close_period(world.users["finance.city"], f"{month_start:%Y-%m}")
    demo_orders.claim_of_last_month(world, f"{month_start:%Y-%m}")
    # the mails the world's making queued (most about last month) are not news: drop them
    db.session.execute(delete(OutboxMessage))
    return world.accounts


def _people_and_places(world: World) -> None:
    for key, name, role, district_code in PEOPLE:
        _person(world, key, name, role, district_code=district_code)
    for lab_spec in LABS:
        lab = labs.create_lab(
            name=lab_spec["name"],
            university=lab_spec["university"],
            district_code=lab_spec["district_code"],
            organization=lab_spec["university"],
        )
        labs.add_lab_manager(lab, world.users[f"lab.{lab_spec['key']}"].id)
        for name, category, rate_fen, approval, location in lab_spec["instruments"]:
            instrument = catalogue.create_instrument(
                lab,
                name=name,
                category=category,
                description=f"{lab_spec['university']}对校外初创团队开放的共享仪器。",
                location=location,
                hourly_rate_fen=rate_fen,
                operation_mode="public_interest" if lab_spec["key"] == "swu" else "market",
                slot_minutes=30,
                min_minutes=60,
                max_minutes=480,
                lead_minutes=120,
                horizon_days=60,
                requires_approval=approval,
                requires_training=False,
                free_cancel_hours=24,
                late_cancel_fee_bp=5000,
                no_show_grace_minutes=15,
                no_show_fee_bp=10000,
                timezone="Asia/Shanghai",
            )
            hours = WEEKDAYS_8_30_TO_17_30 + (SATURDAY_MORNINGS if category == "microscopy" else [])
            catalogue.set_opening_hours(instrument, hours)
            world.instruments.append(instrument)
        for name, category, description, price_fen, days, most in lab_spec["services"]:
            services.create_service(
                lab,
                name=name,
                category=category,
                description=description,
                price_per_sample_fen=price_fen,
                turnaround_days=days,
                max_samples=most,
                sample_fields=DEMO_SAMPLE_FIELDS,
            )
    for spec in PROVIDERS:
        provider = providers.create_provider(name=spec["name"], organization=spec["organization"])
        _person(world, f"provider.{spec['key']}", f"{spec['name']} 运营", "provider", provider_id=provider.id)
        world.offers[spec["key"]] = [
            compute.create_offer(
                provider, name=name, gpu_model=model, gpus_total=gpus, price_per_gpu_hour_fen=price
            )
            for name, model, gpus, price in spec["offers"]
        ]


def _programmes_and_teams(world: World, valid_to: date) -> None:
    valid_from = clock.now().astimezone(ZONE).date().replace(day=1)
    common = {"valid_from": valid_from, "valid_to": valid_to, "voucher_validity_days": 365}
    city = programs.create_program(
        world.users["finance.city"],
        name="重庆市算力券",
        level="municipal",
        resource_kinds=["compute", "instrument"],
        rate_bp=3000,
        budget_fen=50_000_000_00,
        per_team_cap_fen=5_000_000,
        **common,
    )
    district = {
        "500106": programs.create_program(
            world.users["finance.shapingba"],
            name="沙坪坝区科研仪器共享券",
            level="district",
            resource_kinds=["instrument", "compute"],
            rate_bp=2000,
            budget_fen=5_000_000_00,
            per_team_cap_fen=2_000_000,
            stack_ceiling_bp=6000,
            **common,
        ),
        "500109": programs.create_program(
            world.users["finance.beibei"],
            name="北碚区算力补贴",
            level="district",
            resource_kinds=["compute", "instrument"],
            rate_bp=2000,
            budget_fen=3_000_000_00,
            per_team_cap_fen=1_500_000,
            stack_ceiling_bp=5000,
            **common,
        ),
    }
    officers = {"500106": world.users["finance.shapingba"], "500109": world.users["finance.beibei"]}
    for key, team_name, founder, university, district_code, company in TEAMS:
        owner = _person(world, f"founder.{key}", founder, "founder")
        team = teams.create_team(
            owner, name=team_name, university=university, district_code=district_code, organization=company
        )
        teams.verify_team(officers.get(district_code, world.users["admin"]), team.id)
        world.teams[key] = team
        grants = [(city, 3_000_000, world.users["finance.city"])]
        if district_code in district:
            grants.append((district[district_code], 1_000_000, officers[district_code]))
        for program, amount_fen, officer in grants:
            application = programs.apply(
                owner, program.id, team_id=team.id, amount_fen=amount_fen, purpose="样品表征与模型训练"
            )
            programs.approve(officer, application.id)


def _book_instrument(world: World, team_key: str, instrument, starts_at: datetime, hours: int, made_at=None):
    team = world.teams[team_key]
    with clock.frozen_at(made_at or starts_at - timedelta(days=3)):
        booking, _ = bookings.create_instrument_booking(
            db.session.get(User, team.owner_id),
            team_id=team.id,
            instrument_id=instrument.id,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(hours=hours),
        )
    return booking


def _book_compute(
    world: World, team_key: str, offer, gpus: int, starts_at: datetime, hours: int, made_at=None
):
    team = world.teams[team_key]
    with clock.frozen_at(made_at or starts_at - timedelta(hours=2)):
        booking, _ = compute.create_compute_booking(
            db.session.get(User, team.owner_id),
            team_id=team.id,
            offer_id=offer.id,
            gpus=gpus,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(hours=hours),
        )
    return booking


def _past_month(world: World, first: date, last: date) -> None:
    """Bookings of the month before this one: served, checked in and out, compute metered."""
    days = _weekdays(first, last)
    sem, xrd, confocal, cytometer = world.instruments
    cqu, swu = world.users["lab.cqu"], world.users["lab.swu"]
    served = [
        ("zhimou", sem, days[1], 9, 2, cqu, 10),
        ("weina", xrd, days[2], 14, 3, cqu, 0),
        ("weina", sem, days[5], 10, 2, cqu, 20),
        ("jinyun", confocal, days[3], 9, 3, swu, 0),
        ("jinyun", cytometer, days[7], 13, 2, swu, 0),
        ("zhimou", xrd, days[9], 9, 2, cqu, 0),
    ]
    for team_key, instrument, day, hour, hours, manager, overrun in served:
        starts_at = _at(day, hour)
        booking = _book_instrument(world, team_key, instrument, starts_at, hours)
        if booking.status == BookingStatus.PENDING_APPROVAL:
            with clock.frozen_at(starts_at - timedelta(days=2)):
                bookings.approve(manager, booking.id)
        with clock.frozen_at(starts_at + timedelta(minutes=5)):
            attendance.check_in(manager, booking.id)
        ends_at = booking.ends_at + timedelta(minutes=overrun)
        with clock.frozen_at(ends_at):
            attendance.check_out(manager, booking.id)
    liangjiang, kxc = world.offers["liangjiang"], world.offers["kxc"]
    runs = [
        ("yuzhi", kxc[0], "provider.kxc", 4, days[2], 10, 8, "30.5"),
        ("yuzhi", liangjiang[0], "provider.liangjiang", 8, days[6], 9, 6, "46.25"),
        ("zhimou", liangjiang[1], "provider.liangjiang", 2, days[4], 13, 4, "8"),
        ("jinyun", liangjiang[0], "provider.liangjiang", 2, days[8], 9, 5, "9.75"),
    ]
    for n, (team_key, offer, provider_key, gpus, day, hour, hours, gpu_hours) in enumerate(runs, 1):
        booking = _book_compute(world, team_key, offer, gpus, _at(day, hour), hours)
        with clock.frozen_at(booking.ends_at + timedelta(minutes=10)):
            usage.ingest(
                world.users[provider_key],
                [
                    {
                        "external_id": f"demo-job-{day:%Y%m}-{n:03d}",
                        "booking_id": booking.id,
                        "started_at": booking.starts_at.isoformat(),
                        "ended_at": booking.ends_at.isoformat(),
                        "gpu_hours": gpu_hours,
                    }
                ],
            )


def _bookings_ahead(world: World, now: datetime) -> list[date]:
    """Bookings from tomorrow on (confirmed, one awaiting the lab's approval, GPU runs); their weekdays."""
    start = now.astimezone(ZONE).date() + timedelta(days=1)
    days = _weekdays(start, start + timedelta(days=21))
    sem, xrd, confocal, cytometer = world.instruments
    for team_key, instrument, day, hour, hours in [
        ("zhimou", sem, days[0], 9, 2),
        ("weina", xrd, days[1], 14, 2),
        ("jinyun", confocal, days[2], 10, 3),
        ("weina", sem, days[4], 13, 3),
        ("jinyun", cytometer, days[5], 9, 2),
    ]:
        _book_instrument(world, team_key, instrument, _at(day, hour), hours, made_at=now)
    liangjiang, kxc = world.offers["liangjiang"], world.offers["kxc"]
    _book_compute(world, "yuzhi", kxc[0], 4, _at(days[0], 20), 12, made_at=now)
    _book_compute(world, "zhimou", liangjiang[1], 2, _at(days[2], 9), 8, made_at=now)
    return days
