"""The stack's floor: a bare Flask + SQLAlchemy endpoint that validates a body and inserts one row.

``bench/booking_floor.py`` serves it with gunicorn beside the platform, on the same PostgreSQL, and
drives both with the same client. It does what any JSON write endpoint must do at the least — parse
and validate the body, one INSERT … RETURNING in a transaction, a JSON answer — and nothing else:
no authentication, no rules, no ledger. ``FLOOR_DATABASE_URL`` names the database; the table
``floor_rows`` is created on first use.
"""

from __future__ import annotations

import os
from datetime import datetime

import sqlalchemy as sa
from flask import Flask, jsonify, request

metadata = sa.MetaData()
rows = sa.Table(
    "floor_rows",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("team_id", sa.Integer, nullable=False),
    sa.Column("instrument_id", sa.Integer, nullable=False),
    sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
)

app = Flask(__name__)
engine = sa.create_engine(os.environ["FLOOR_DATABASE_URL"], pool_pre_ping=False)
with engine.begin() as _connection:  # gunicorn's workers start at once: one creates the table
    _connection.execute(sa.text("SELECT pg_advisory_xact_lock(770001)"))
    metadata.create_all(_connection, checkfirst=True)


def _problems(body) -> tuple[dict, dict]:
    if not isinstance(body, dict):
        return {}, {"body": ["A JSON object is required."]}
    values, problems = {}, {}
    for key in ("team_id", "instrument_id"):
        value = body.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            problems[key] = ["A positive integer is required."]
        values[key] = value
    for key in ("starts_at", "ends_at"):
        try:
            values[key] = datetime.fromisoformat(body.get(key))
            if values[key].tzinfo is None:
                problems[key] = ["A timezone is required."]
        except (TypeError, ValueError):
            problems[key] = ["An ISO 8601 time is required."]
    if not problems and values["ends_at"] <= values["starts_at"]:
        problems["ends_at"] = ["Must be after starts_at."]
    return values, problems


@app.post("/rows")
def create_row():
    values, problems = _problems(request.get_json(silent=True))
    if problems:
        return jsonify(error={"code": "invalid", "message": "Invalid body.", "details": problems}), 422
    with engine.begin() as connection:
        row_id = connection.execute(rows.insert().values(**values).returning(rows.c.id)).scalar_one()
    return jsonify(
        id=row_id, **{k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}
    ), 201


@app.get("/healthz")
def healthz():
    return {"status": "ok"}
