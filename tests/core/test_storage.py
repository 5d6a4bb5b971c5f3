"""The file storage contract, run against both backends: a local directory and a real S3-compatible
server (moto's server, started here as a process on 127.0.0.1 and stopped at the end)."""

from __future__ import annotations

import hashlib
import io
import os
import re
import socket
import subprocess
import sys
import time
import tracemalloc

import boto3
import pytest
from werkzeug.datastructures import FileStorage as UploadedFile
from werkzeug.http import parse_options_header

from booking.core.config import TestConfig
from booking.core.storage import FileMissing, StorageUnavailable, attachment_header, storage
from booking.factory import create_app

BUCKET = "suanli-files"
MB = 1024 * 1024


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def s3_credentials():
    saved = dict(os.environ)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_CONFIG_FILE": os.devnull,
            "NO_PROXY": "127.0.0.1",
        }
    )
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="module")
def s3_endpoint(s3_credentials):
    """moto's S3-compatible server in its own process (so tracemalloc measures only our side)."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}"
        boto3.client("s3", endpoint_url=url, region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def _app(**settings):
    app = create_app(
        {
            **{k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()},
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            **settings,
        }
    )

    @app.route("/api/v1/stored-files/<key>")
    def stored_file(key):
        return storage.send(key, filename="结果.csv", content_type="text/csv")

    stored_file._access_roles = ("public",)
    return app


@pytest.fixture(scope="module", params=["local", "s3"])
def files_app(request, tmp_path_factory):
    if request.param == "local":
        root = tmp_path_factory.mktemp("files")
        app = _app(STORAGE_BACKEND="local", STORAGE_LOCAL_PATH=str(root))
    else:
        endpoint = request.getfixturevalue("s3_endpoint")
        app = _app(
            STORAGE_BACKEND="s3",
            STORAGE_S3_BUCKET=BUCKET,
            STORAGE_S3_ENDPOINT_URL=endpoint,
            STORAGE_S3_REGION="us-east-1",
        )
    app.backend = request.param
    return app


@pytest.fixture
def files(files_app):
    with files_app.app_context():
        yield storage


class RandomStream:
    """``total`` bytes handed out in reads, never held at once; the sha256 of what it gave."""

    def __init__(self, total: int):
        self.left = total
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        chunk = os.urandom(size)
        self.left -= size
        self.digest.update(chunk)
        return chunk


def test_round_trip_keeps_bytes_size_and_sha256(files):
    content = "温度,湿度\n21.5,40\n".encode() * 1000
    stored = files.put(content, filename="记录.csv", content_type="text/csv")
    assert stored.size == len(content)
    assert stored.sha256 == hashlib.sha256(content).hexdigest()
    assert (stored.filename, stored.content_type) == ("记录.csv", "text/csv")
    assert len(stored.key) == 32
    assert files.exists(stored.key)
    with files.open(stored.key) as stream:
        assert stream.read() == content


def test_a_stream_is_stored_like_bytes_and_keys_are_new_each_time(files):
    first = files.put(io.BytesIO(b"scan"), filename="a.pdf", content_type="application/pdf")
    second = files.put(b"scan", filename="a.pdf", content_type="application/pdf")
    upload = UploadedFile(io.BytesIO(b"scan"), filename="a.pdf", content_type="application/pdf")
    third = files.put(upload, filename="a.pdf", content_type="application/pdf")
    assert len({first.key, second.key, third.key}) == 3
    assert first.sha256 == second.sha256 == third.sha256 and first.size == second.size == third.size == 4


def test_an_empty_file_is_stored(files):
    stored = files.put(b"", filename="empty.txt", content_type="text/plain")
    assert stored.size == 0 and stored.sha256 == hashlib.sha256(b"").hexdigest()
    with files.open(stored.key) as stream:
        assert stream.read() == b""


def test_a_30_mb_upload_is_streamed_not_held_in_memory(files):
    source = RandomStream(30 * MB)
    tracemalloc.start()
    try:
        stored = files.put(source, filename="显微图像.tiff", content_type="image/tiff")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert stored.size == 30 * MB
    assert stored.sha256 == source.digest.hexdigest()
    assert peak < 12 * MB, f"peak {peak / MB:.1f} MB while storing 30 MB"
    digest = hashlib.sha256()
    with files.open(stored.key) as stream:
        while chunk := stream.read(MB):
            digest.update(chunk)
    assert digest.hexdigest() == stored.sha256


def test_send_is_an_attachment_with_the_chinese_name(files_app, files):
    stored = files.put(b"a,b\n1,2\n", filename="ignored.csv", content_type="text/csv")
    response = files.send(stored.key, filename="检测报告 2026年.csv", content_type="text/csv; charset=utf-8")
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''%E6%A3%80%E6%B5%8B%E6%8A%A5%E5%91%8A%202026%E5%B9%B4.csv" in disposition
    assert disposition.isascii()
    assert parse_options_header(disposition)[1]["filename"] == "检测报告 2026年.csv"
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Length"] == "8"
    assert b"".join(response.response) == b"a,b\n1,2\n"
    response.close()

    client = files_app.test_client()
    download = client.get(f"/api/v1/stored-files/{stored.key}")
    assert download.status_code == 200
    assert download.data == b"a,b\n1,2\n"
    assert parse_options_header(download.headers["Content-Disposition"])[1]["filename"] == "结果.csv"


@pytest.mark.parametrize(
    "filename",
    ["report\r\nSet-Cookie: stolen=1.pdf", 'a"; filename="evil.exe', "..\\..\\boot.ini", "\x00\x7f"],
)
def test_attachment_header_cannot_be_injected(filename):
    header = attachment_header(filename)
    # one quoted ASCII fallback without quotes or backslashes, then at most the percent-encoded name
    assert re.fullmatch(
        r'attachment; filename="[ -!#-\[\]-~]+"(; filename\*=UTF-8\'\'[A-Za-z0-9%._~-]+)?', header
    )
    name = parse_options_header(header)[1]["filename"]
    assert not any(c in name for c in "\r\n\x00\x7f/\\")


def test_plain_names_keep_a_plain_header():
    assert attachment_header("results.zip") == 'attachment; filename="results.zip"'


def test_a_missing_key_is_a_clear_not_found(files_app, files):
    missing = "0" * 32
    with pytest.raises(FileMissing):
        files.open(missing)
    with pytest.raises(FileMissing):
        files.send(missing, filename="x.pdf", content_type="application/pdf")
    assert not files.exists(missing)
    response = files_app.test_client().get(f"/api/v1/stored-files/{missing}")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "file_not_found"


def test_delete_removes_the_file_and_is_idempotent(files):
    stored = files.put(b"old scan", filename="invoice.pdf", content_type="application/pdf")
    files.delete(stored.key)
    assert not files.exists(stored.key)
    with pytest.raises(FileMissing):
        files.open(stored.key)
    files.delete(stored.key)


@pytest.mark.parametrize(
    "key",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "..",
        "../" + "a" * 32,
        "ab/../../" + "a" * 30,
        "a" * 31 + "/",
        "A" * 32,
        "a" * 32 + "\x00",
        "",
    ],
)
def test_keys_not_made_by_the_service_are_refused(files, key, tmp_path):
    for call in (files.open, files.exists, files.delete):
        with pytest.raises(FileMissing):
            call(key)
    with pytest.raises(FileMissing):
        files.send(key, filename="x", content_type="text/plain")


def test_local_store_never_touches_files_outside_its_root(tmp_path):
    root = tmp_path / "files"
    outside = tmp_path / "secret.txt"
    outside.write_text("keep me")
    app = _app(STORAGE_BACKEND="local", STORAGE_LOCAL_PATH=str(root))
    with app.app_context():
        for key in ("../secret.txt", "../../" + str(outside), str(outside)):
            with pytest.raises(FileMissing):
                storage.delete(key)
            with pytest.raises(FileMissing):
                storage.open(key)
        stored = storage.put(b"x", filename="x", content_type="text/plain")
    assert outside.read_text() == "keep me"
    written = [p for p in root.rglob("*") if p.is_file()]
    assert written == [root / stored.key[:2] / stored.key]  # no temporary file left behind


def test_local_default_is_the_instance_folder(tmp_path):
    app = _app()
    app.instance_path = str(tmp_path)
    with app.app_context():
        stored = storage.put(b"x", filename="x", content_type="text/plain")
    assert (tmp_path / "files" / stored.key[:2] / stored.key).read_bytes() == b"x"


def test_an_unreachable_s3_store_is_a_clear_error(s3_credentials):
    app = _app(
        STORAGE_BACKEND="s3",
        STORAGE_S3_BUCKET=BUCKET,
        STORAGE_S3_ENDPOINT_URL=f"http://127.0.0.1:{_free_port()}",
        STORAGE_S3_REGION="us-east-1",
    )
    with app.app_context():
        with pytest.raises(StorageUnavailable):
            storage.put(b"x", filename="x", content_type="text/plain")
        with pytest.raises(StorageUnavailable):
            storage.put(RandomStream(9 * MB), filename="x", content_type="text/plain")
        with pytest.raises(StorageUnavailable):
            storage.exists("0" * 32)
    response = app.test_client().get("/api/v1/stored-files/" + "0" * 32)
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "storage_unavailable"


@pytest.mark.parametrize("settings", [{"STORAGE_BACKEND": "ftp"}, {"STORAGE_BACKEND": "s3"}])
def test_a_wrong_configuration_stops_the_start(settings):
    with pytest.raises(ValueError):
        _app(**settings)
