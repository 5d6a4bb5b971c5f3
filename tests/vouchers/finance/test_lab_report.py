"""Lab open-sharing report: hours booked and used, teams served, utilisation of opening hours."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from booking.core import clock
from booking.core.db import db
from booking.flow import attendance
from booking.models import User

START = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)  # Monday 10:00 in Chongqing


def test_lab_report_counts_hours_teams_and_utilisation(api, make, app):
    manager = make.user("lab_manager")
    lab = make.lab(manager=manager, district_code="500106")
    instrument = make.instrument(lab)  # weekdays 08:00–18:00: 23 weekdays in March 2027 = 230 h
    teams = [make.team(verified=True, district_code="500106") for _ in range(2)]
    first = make.booking(teams[0], instrument, START, START + timedelta(hours=2))
    make.booking(teams[1], instrument, START + timedelta(days=1), START + timedelta(days=1, hours=1))
    make.booking(teams[0], instrument, START + timedelta(days=2), START + timedelta(days=2, hours=1))
    with app.app_context():
        actor = db.session.get(User, manager.id)
        with clock.frozen_at(START + timedelta(minutes=5)):
            attendance.check_in(actor, first.id, at=START + timedelta(minutes=5))
        with clock.frozen_at(START + timedelta(hours=2)):
            attendance.check_out(actor, first.id, at=START + timedelta(hours=2))
        db.session.commit()

    response = api.as_(make.finance("500106")).get("/api/v1/finance/lab-report?period=2027-03")
    assert response.status_code == 200, response.json
    (row,) = response.json["rows"]
    assert row["instrument_id"] == instrument.id and row["lab_id"] == lab.id
    assert (row["bookings"], row["teams"]) == (3, 2)
    assert (row["hours_booked"], row["hours_used"], row["opening_hours"]) == ("4.00", "1.92", "230.00")
    assert row["utilisation_bp"] == 115 * 10_000 // (230 * 60)
    assert response.json["income_by_mode"] == {"market": 0}
    # scope: another district's office sees none of this lab
    assert api.as_(make.finance("500103")).get("/api/v1/finance/lab-report?period=2027-03").json["rows"] == []
    text = (
        api.as_(make.finance(None))
        .get("/api/v1/finance/lab-report?period=2027-03&format=csv")
        .get_data()
        .decode("utf-8-sig")
    )
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["instrument_id"], r["hours_booked"]) for r in rows] == [(str(instrument.id), "4.00")]
    assert api.as_(make.user("founder")).get("/api/v1/finance/lab-report?period=2027-03").status_code == 403
    assert api.as_(make.finance(None)).get("/api/v1/finance/lab-report?period=2027-3").status_code == 422
