"""Behind a reverse proxy: X-Forwarded-* headers are believed only when TRUSTED_PROXIES says so."""

from __future__ import annotations

from booking.factory import create_app


def _app(tmp_path, **config):
    return create_app(
        {"SQLALCHEMY_DATABASE_URI": "sqlite:///" + str(tmp_path / "p.sqlite3"), "SECRET_KEY": "x", **config}
    )


def _seen(app) -> tuple[str, str]:
    @app.get("/_seen")
    def seen():
        from flask import request

        return {"addr": request.remote_addr, "url": request.url_root}

    forwarded = {
        "X-Forwarded-For": "203.0.113.9",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "book.example.cn",
    }
    body = app.test_client().get("/_seen", headers=forwarded, environ_base={"REMOTE_ADDR": "10.0.0.2"}).json
    return body["addr"], body["url"]


def test_forwarded_headers_are_ignored_by_default(tmp_path):
    assert _seen(_app(tmp_path)) == ("10.0.0.2", "http://localhost/")


def test_one_trusted_proxy_gives_the_client_address_and_https_links(tmp_path):
    assert _seen(_app(tmp_path, TRUSTED_PROXIES=1)) == ("203.0.113.9", "https://book.example.cn/")
