"""Security headers on HTML pages and API responses alike."""

import pytest


@pytest.mark.parametrize("path", ["/", "/sign-in", "/api/v1/openapi.json", "/api/v1/me", "/no-such-page"])
def test_every_response_carries_the_security_headers(client, path):
    response = client.get(path)
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_pages_use_no_inline_script_or_style(client, login, make):
    login(make.user("founder"))
    for path in ("/", "/teams", "/instruments", "/bookings", "/programs"):
        html = client.get(path).get_data(as_text=True)
        assert "<script>" not in html and "<style" not in html and ' style="' not in html, path
