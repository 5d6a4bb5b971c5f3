"""Each role lands on its own home, and the main navigation shows each role only what it uses.

``/`` is public for visitors; a founder gets an overview (teams, next bookings, voucher balances,
next steps); the other roles are sent to their console. The navigation rule: every link of a role's
navigation opens (200) for that role, and its page's access mark admits the role.
Pages are read in Chinese (the default UI language).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from booking.core import clock
from booking.core.db import db
from booking.flow import bookings, founder_home
from booking.models import User
from tests.conftest import PASSWORD, csrf_token
from vouchers import programs, wallet

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 6, 1, 10, 0, tzinfo=CST)  # a Monday, inside the factories' programme window
ROUND_THE_CLOCK = tuple((day, 0, 24 * 60) for day in range(7))
NAV_RE = re.compile(r'<header class="topbar">.*?<nav aria-label="[^"]*">(.*?)</nav>', re.S)
HREF_RE = re.compile(r'<a href="([^"]+)"[^>]*>([^<]*)</a>')


@pytest.fixture(autouse=True)
def frozen_now():
    with clock.frozen_at(NOW):
        yield


def text(response) -> str:
    return response.get_data(as_text=True)


def at(day: int, hour: int) -> datetime:
    """June ``day``, 2026, ``hour``:00 Chongqing time."""
    return datetime(2026, 6, day, hour, 0, tzinfo=CST)


def nav_links(page: str) -> list[tuple[str, str]]:
    match = NAV_RE.search(page)
    assert match, "no main navigation on the page"
    return [(href, label.strip()) for href, label in HREF_RE.findall(match.group(1))]


def step_codes(page: str) -> list[str]:
    return re.findall(r'data-step="([a-z_]+)"', page)


def section(page: str, section_id: str) -> str:
    match = re.search(rf'<section id="{section_id}"[^>]*>(.*?)</section>', page, re.S)
    assert match, f"no section #{section_id}"
    return match.group(1)


# --- where each role lands -------------------------------------------------------------------------------


def test_anonymous_home_is_public_and_says_what_the_platform_is(client):
    response = client.get("/")
    assert response.status_code == 200
    page = text(response)
    assert "<h1>算力券与开放实验室</h1>" in page
    assert 'href="/sign-in"' in page
    assert "创业团队" in page and "财政部门" in page  # who the platform is for
    assert nav_links(page) == []  # nothing to navigate before signing in


@pytest.mark.parametrize(
    ("role", "console"),
    [("lab_manager", "/lab"), ("provider", "/provider"), ("finance", "/finance"), ("admin", "/admin")],
)
def test_each_role_is_sent_to_its_console(client, make, login, role, console):
    user = make.user(role)
    if role == "lab_manager":
        make.lab(manager=user)
    login(user)
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == console
    assert client.get(console).status_code == 200


def test_signing_in_without_next_lands_on_the_roles_home(client, make):
    manager = make.user("lab_manager")
    make.lab(manager=manager)
    token = csrf_token(client, "/sign-in")
    response = client.post(
        "/sign-in", data={"email": manager.email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.headers["Location"] == "/"
    assert client.get("/").headers["Location"] == "/lab"


def test_a_booking_over_midnight_shows_the_day_it_ends(client, make, login):
    founder = make.user("founder")
    team = make.team(founder, verified=True)
    offer = make.offer(name="H800 集群", gpu_model="H800-80G")
    make.compute_booking(team, offer, at(1, 22), at(2, 2))
    login(founder)
    assert "22:00–6/2 02:00" in section(text(client.get("/")), "upcoming")


def test_founder_lands_on_its_own_home(client, make, login):
    founder = make.user("founder", name="李雷")
    login(founder)
    response = client.get("/")
    assert response.status_code == 200
    page = text(response)
    assert "欢迎，李雷" in page
    assert 'id="next-steps"' in page and 'id="upcoming"' in page and 'id="vouchers"' in page


# --- the founder's home ------------------------------------------------------------------------------------


def test_upcoming_lists_the_next_five_live_bookings_and_not_cancelled_or_past_ones(client, make, login):
    founder = make.user("founder")
    team = make.team(founder, verified=True, name="星火团队")
    instrument = make.instrument(hours=ROUND_THE_CLOCK, name="冷冻电镜")
    past = make.booking(team, instrument, at(1, 8), at(1, 9))  # ended an hour ago
    cancelled = make.booking(team, instrument, at(2, 14), at(2, 15))
    make._unit(lambda: bookings.cancel(db.session.get(User, founder.id), cancelled.id, "plans changed"))
    live = [make.booking(team, instrument, at(day, 9), at(day, 10)) for day in (2, 3, 4, 5, 8, 9)]
    offer = make.offer(name="A100 集群", gpu_model="A100-80G")
    gpu = make.compute_booking(team, offer, at(1, 12), at(1, 14), gpus=2)

    login(founder)
    upcoming = section(text(client.get("/")), "upcoming")
    shown = [int(i) for i in re.findall(r'id="booking-(\d+)"', upcoming)]
    assert shown == [gpu.id] + [b.id for b in live[:4]]  # by start, five at most
    assert past.id not in shown and cancelled.id not in shown and live[5].id not in shown
    assert "2026-06-02" in upcoming and "09:00–10:00" in upcoming  # Chongqing wall-clock time
    assert "12:00–14:00" in upcoming  # a compute booking within one day: the end without its day
    assert "2 × A100-80G" in upcoming and "冷冻电镜" in upcoming
    assert "已确认" in upcoming  # the status in words, never the code
    assert ">confirmed<" not in upcoming


def test_balances_are_per_team_in_yuan_with_two_decimals(client, make, login):
    founder = make.user("founder")
    team = make.team(founder, verified=True, name="星火团队")
    other = make.team(founder, verified=True, name="晨曦团队")
    make.voucher(team, make.program(), 123_456)
    make.voucher(team, make.program(level="district"), 100_000)
    make.voucher(other, make.program(), 500_000)

    login(founder)
    vouchers = section(text(client.get("/")), "vouchers")
    row = re.search(rf'id="balance-{team.id}">(.*?)</tr>', vouchers, re.S).group(1)
    assert re.search(r'data-figure="available">¥2,234\.56<', row)
    assert re.search(r'data-figure="committed">¥0\.00<', row)
    assert f'href="/teams/{team.id}/vouchers"' in row
    other_row = re.search(rf'id="balance-{other.id}">(.*?)</tr>', vouchers, re.S).group(1)
    assert re.search(r'data-figure="available">¥5,000\.00<', other_row)


def test_balances_count_only_active_vouchers(app, make):
    founder = make.user("founder")
    team = make.team(founder, verified=True)
    program = make.program()
    voucher = make.voucher(team, program, 200_000)
    make.voucher(team, make.program(), 50_000)
    officer_id = program.created_by_id
    make._unit(lambda: wallet.revoke(db.session.get(User, officer_id), voucher.id, "no longer eligible"))
    with app.app_context():
        overview = founder_home.founder_overview(db.session.get(User, founder.id), NOW)
    (balance,) = overview.balances
    assert (balance.available_fen, balance.active_vouchers) == (50_000, 1)


def test_next_step_without_a_team_is_to_register_one(client, make, login):
    login(make.user("founder"))
    page = text(client.get("/"))
    assert step_codes(page) == ["register_team"]
    steps = section(page, "next-steps")
    assert 'href="/teams/new"' in steps and "登记团队" in steps


def test_next_step_with_an_unverified_team_is_to_wait_for_finance(client, make, login):
    founder = make.user("founder")
    team = make.team(founder, verified=False, name="星火团队")
    login(founder)
    page = text(client.get("/"))
    assert step_codes(page) == ["await_verification"]
    steps = section(page, "next-steps")
    assert "星火团队" in steps and "财政部门" in steps and f'href="/teams/{team.id}"' in steps
    assert "待审核" in section(page, "teams")  # the team's state, in words


def test_next_step_without_vouchers_is_to_apply_then_to_wait(client, make, login, app):
    founder = make.user("founder")
    team = make.team(founder, verified=True, name="星火团队")
    login(founder)
    page = text(client.get("/"))
    assert step_codes(page) == ["apply_for_vouchers", "book_something"]
    assert 'href="/programs"' in section(page, "next-steps")

    program = make.program()
    make._unit(
        lambda: programs.apply(
            db.session.get(User, founder.id), program.id, team_id=team.id, amount_fen=100_000, purpose="GPU"
        )
    )
    page = text(client.get("/"))
    assert step_codes(page) == ["await_application", "book_something"]
    assert 'href="/applications"' in section(page, "next-steps")


def test_next_step_with_vouchers_and_nothing_booked_is_to_find_something(client, make, login):
    founder = make.user("founder")
    team = make.team(founder, verified=True)
    make.voucher(team, make.program())
    login(founder)
    page = text(client.get("/"))
    assert step_codes(page) == ["book_something"]
    steps = section(page, "next-steps")
    assert 'href="/instruments"' in steps and 'href="/compute"' in steps

    make.booking(team, make.instrument(hours=ROUND_THE_CLOCK), at(2, 9), at(2, 10))
    page = text(client.get("/"))
    assert step_codes(page) == []


def test_only_founders_have_an_overview(app, make):
    with app.app_context(), pytest.raises(Exception) as refused:
        founder_home.founder_overview(db.session.get(User, make.user("finance").id), NOW)
    assert getattr(refused.value, "status", None) == 403


# --- the navigation ------------------------------------------------------------------------------------------


@pytest.fixture
def people(make):
    """One person per role, each with what their pages need to exist."""
    founder = make.user("founder")
    team = make.team(founder, verified=True)
    make.voucher(team, make.program())
    manager = make.user("lab_manager")
    make.lab(manager=manager)
    return {
        "founder": founder,
        "lab_manager": manager,
        "provider": make.user("provider"),
        "finance": make.finance("500106"),
        "municipal finance": make.finance(None),
        "admin": make.user("admin"),
    }


@pytest.mark.parametrize(
    "who", ["founder", "lab_manager", "provider", "finance", "municipal finance", "admin"]
)
def test_every_navigation_link_opens_for_its_role(app, client, login, people, who):
    user = people[who]
    login(user)
    links = nav_links(text(client.get("/", follow_redirects=True)))
    assert links, who
    adapter = app.url_map.bind("localhost")
    for href, label in links:
        path = href.split("#")[0]
        endpoint, _ = adapter.match(path)
        marks = app.view_functions[endpoint]._access_roles
        assert {"*", "public", user.role} & set(marks), (who, label, path, marks)
        assert client.get(path).status_code == 200, (who, label, path)


def _nav_of(client, login, user) -> dict[str, str]:
    login(user)
    return {label: href for href, label in nav_links(text(client.get("/", follow_redirects=True)))}


def test_founder_nav_has_the_voucher_wallet(client, login, make):
    founder = make.user("founder")
    login(founder)
    assert _nav_of(client, login, founder)["我的算力券"] == "/programs"  # no team yet: what to apply to

    team = make.team(founder, verified=True)
    nav = _nav_of(client, login, founder)
    assert nav["我的算力券"] == f"/teams/{team.id}/vouchers"
    for label in ("首页", "仪器", "GPU 算力", "我的预约", "团队", "算力券项目"):
        assert label in nav, label

    make.team(founder, verified=True)
    assert _nav_of(client, login, founder)["我的算力券"] == "/#vouchers"  # the balances of each team


def test_lab_manager_nav_has_its_console_and_no_teams(client, login, people):
    nav = _nav_of(client, login, people["lab_manager"])
    assert nav["实验室管理"] == "/lab"
    assert "/bookings" in nav.values()
    assert "团队" not in nav and "/teams" not in nav.values()
    assert not any("/programs" in href or "/finance" in href for href in nav.values())


def test_provider_nav_has_its_console_and_usage(client, login, people):
    nav = _nav_of(client, login, people["provider"])
    assert {"/provider", "/provider/usage"} <= set(nav.values())
    assert "/teams" not in nav.values() and "/instruments" not in nav.values()


def test_finance_nav_has_its_daily_pages(client, login, people):
    nav = set(_nav_of(client, login, people["finance"]).values())
    expected = {"/finance", "/finance/exceptions", "/programs", "/finance/statements", "/finance/payouts"}
    assert expected | {"/finance/periods"} <= nav
    assert "/lab" not in nav and "/provider" not in nav and "/instruments" not in nav


def test_admin_nav_has_the_admin_pages_and_finance_reading(client, login, people):
    nav = set(_nav_of(client, login, people["admin"]).values())
    assert {"/admin", "/admin/users", "/admin/labs", "/admin/providers", "/finance"} <= nav


def test_the_page_shown_is_marked_current(client, login, people):
    login(people["finance"])
    page = text(client.get("/finance/payouts"))
    assert re.search(r'<a href="/finance/payouts" aria-current="page">', NAV_RE.search(page).group(1))


def test_nav_of_the_founder_never_links_another_teams_wallet(client, login, make):
    founder = make.user("founder")
    make.team(make.user("founder"), verified=True)  # someone else's team
    assert _nav_of(client, login, founder)["我的算力券"] == "/programs"
