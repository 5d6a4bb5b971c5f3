"""Units: Stripe's form encoding and the webhook signature scheme."""

from __future__ import annotations

from booking.flow.payments.wire import encode_form, sign_payload, verify_signature


def test_form_encoding_nests_keys_and_lists():
    pairs = encode_form(
        {
            "amount": 1200,
            "confirm": True,
            "capture_method": "manual",
            "metadata": {"booking_id": 7, "team": {"id": 3}},
            "payment_method_types": ["card", "alipay"],
            "description": None,
        }
    )
    assert pairs == [
        ("amount", "1200"),
        ("confirm", "true"),
        ("capture_method", "manual"),
        ("metadata[booking_id]", "7"),
        ("metadata[team][id]", "3"),
        ("payment_method_types[0]", "card"),
        ("payment_method_types[1]", "alipay"),
    ]


def test_list_of_objects():
    assert encode_form({"items": [{"price": "p1", "quantity": 2}]}) == [
        ("items[0][price]", "p1"),
        ("items[0][quantity]", "2"),
    ]


SECRET = "whsec_abc"
PAYLOAD = b'{"id": "evt_1"}'


def test_signature_round_trip_and_tolerance():
    header = sign_payload(PAYLOAD, SECRET, 1_000_000)
    assert verify_signature(PAYLOAD, header, SECRET, now=1_000_000)
    assert verify_signature(PAYLOAD, header, SECRET, now=1_000_300)
    assert not verify_signature(PAYLOAD, header, SECRET, now=1_000_301)
    assert not verify_signature(PAYLOAD + b" ", header, SECRET, now=1_000_000)
    assert not verify_signature(PAYLOAD, header, "whsec_other", now=1_000_000)


def test_any_v1_signature_may_match():
    good = sign_payload(PAYLOAD, SECRET, 1_000_000).split(",")[1]
    header = f"t=1000000,v1={'0' * 64},{good},v0=ignored"
    assert verify_signature(PAYLOAD, header, SECRET, now=1_000_000)
    assert not verify_signature(PAYLOAD, f"t=1000000,v1={'0' * 64}", SECRET, now=1_000_000)


def test_malformed_headers_are_refused():
    for header in (None, "", "garbage", "t=,v1=aa", "v1=aa", "t=1000000"):
        assert not verify_signature(PAYLOAD, header, SECRET, now=1_000_000)
    assert not verify_signature(PAYLOAD, sign_payload(PAYLOAD, SECRET, 1_000_000), "", now=1_000_000)


def test_payments_settings_come_from_the_environment(monkeypatch):
    from booking.core.config import Config

    assert Config.PAYMENTS_API_BASE is None  # the embedded default: invoiced, no card
    monkeypatch.setenv("PAYMENTS_API_BASE", "http://127.0.0.1:8420")
    monkeypatch.setenv("PAYMENTS_API_KEY", "sk_test_x")
    monkeypatch.setenv("PAYMENTS_WEBHOOK_SECRET", "whsec_x")
    monkeypatch.setenv("PAYMENTS_CAPTURE_MAX_FAILURES", "7")
    settings = Config.from_environ()
    assert settings["PAYMENTS_API_BASE"] == "http://127.0.0.1:8420"
    assert settings["PAYMENTS_API_KEY"] == "sk_test_x"
    assert settings["PAYMENTS_WEBHOOK_SECRET"] == "whsec_x"
    assert settings["PAYMENTS_CAPTURE_MAX_FAILURES"] == 7


def test_no_payments_api_keeps_the_invoice_status(api, make):
    manager = make.user("lab_manager")
    lab = make.lab(manager=manager)
    owner = make.user("founder")
    team = make.team(owner=owner, verified=True)
    instrument = make.instrument(lab, hourly_rate_fen=10_000)
    from tests.flow.payments.conftest import NOW, at, book

    world = {"team": team, "instrument": instrument, "owner": owner}
    response = book(api, world, at(3, 10), at(3, 12), NOW, payment_method="pm_card_visa")
    assert response.status_code == 201
    assert response.json["payment"] == {"status": "invoice", "intent_id": None}
