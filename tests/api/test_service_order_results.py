"""Result files of service orders, against both stores (a local directory and moto's S3 server): upload
with size and sha256, download as an attachment with the name as uploaded, who may download, and the
50 MB limit."""

from __future__ import annotations

import hashlib
from pathlib import Path

import boto3
import pytest
from sqlalchemy import func, select

from booking.core.db import db
from instruments.models import ServiceOrderResult
from tests.core.test_storage import BUCKET, s3_credentials, s3_endpoint  # noqa: F401 - fixtures
from tests.support.service_orders import drive, order_world, submit, upload

MB = 1024 * 1024


@pytest.fixture(params=["local", "s3"])
def result_store(request, app, tmp_path):
    """The session app's file store switched to a fresh local directory or to the S3 server."""
    saved = {k: app.config.get(k) for k in ("STORAGE_BACKEND", "STORAGE_LOCAL_PATH", "STORAGE_S3_BUCKET")}
    saved_s3 = {k: app.config.get(k) for k in ("STORAGE_S3_ENDPOINT_URL", "STORAGE_S3_REGION")}
    if request.param == "local":
        app.config.update(STORAGE_BACKEND="local", STORAGE_LOCAL_PATH=str(tmp_path))
        listing = lambda: sorted(p.name for p in Path(tmp_path).rglob("*") if p.is_file())  # noqa: E731
    else:
        endpoint = request.getfixturevalue("s3_endpoint")
        app.config.update(
            STORAGE_BACKEND="s3",
            STORAGE_S3_BUCKET=BUCKET,
            STORAGE_S3_ENDPOINT_URL=endpoint,
            STORAGE_S3_REGION="us-east-1",
        )
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        before = {o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])}
        listing = lambda: sorted(  # noqa: E731
            o["Key"]
            for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
            if o["Key"] not in before
        )
    app.extensions["file_storage"].pop("store", None)
    yield listing
    app.config.update(**saved, **saved_s3)
    app.extensions["file_storage"].pop("store", None)


def _in_progress(api, make):
    world = order_world(make)
    order_id = submit(api, world).json["id"]
    drive(api, world, order_id, "in_progress")
    return world, order_id


def test_upload_and_download_keep_bytes_name_size_and_sha256(api, make, app, result_store):
    world, order_id = _in_progress(api, make)
    data = b"2theta,intensity\n10.0,123\n" * 1000
    uploaded = upload(api, world, order_id, data, "../实验/XRD 结果 (1).csv")
    assert uploaded.status_code == 201, uploaded.json
    result = uploaded.json
    assert result["filename"] == "XRD 结果 (1).csv"
    assert result["size"] == len(data) and result["sha256"] == hashlib.sha256(data).hexdigest()
    with app.app_context():
        key = db.session.get(ServiceOrderResult, result["id"]).storage_key
    assert result_store() == [key]  # stored under the store's own key, never the name

    for user in (world.owner, world.manager):
        download = api.as_(user).get(f"/api/v1/service-orders/{order_id}/results/{result['id']}")
        assert download.status_code == 200
        assert download.data == data
        disposition = download.headers["Content-Disposition"]
        assert disposition.startswith("attachment; ")
        assert 'filename="XRD  (1).csv"' in disposition
        assert "filename*=UTF-8''XRD%20%E7%BB%93%E6%9E%9C%20%281%29.csv" in disposition
        assert download.headers["Content-Type"].startswith("application/pdf")
    listed = api.as_(world.owner).get(f"/api/v1/service-orders/{order_id}").json["results"]
    assert [(r["id"], r["filename"], r["size"]) for r in listed] == [
        (result["id"], result["filename"], len(data))
    ]


def test_strangers_never_download(api, make, app, result_store):
    world, order_id = _in_progress(api, make)
    result_id = upload(api, world, order_id).json["id"]
    other_manager = make.user("lab_manager")
    make.lab(manager=other_manager)
    path = f"/api/v1/service-orders/{order_id}/results/{result_id}"
    for user in (make.user("founder"), other_manager, make.finance("500106"), make.finance(None)):
        answer = api.as_(user).get(path)
        assert answer.status_code == 404, user.email
        assert "attachment" not in answer.headers.get("Content-Disposition", "")
    # another order's file id through this order: 404 too
    other_order = submit(api, world).json["id"]
    assert (
        api.as_(world.owner).get(f"/api/v1/service-orders/{other_order}/results/{result_id}").status_code
        == 404
    )
    assert api.as_(make.user("admin")).get(path).status_code == 200


def test_a_file_over_50_mb_is_refused_and_nothing_is_kept(api, make, app, result_store):
    world, order_id = _in_progress(api, make)
    refused = upload(api, world, order_id, b"\0" * (50 * MB + 1), "big.bin")
    assert refused.status_code == 413, refused.json
    assert refused.json["error"]["code"] == "payload_too_large"
    assert result_store() == []
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ServiceOrderResult)) == 0
    assert api.as_(world.owner).get(f"/api/v1/service-orders/{order_id}").json["results"] == []


def test_a_body_declared_far_over_the_limit_is_refused_before_reading(api, make, app):
    world, order_id = _in_progress(api, make)
    answer = api.as_(world.manager).post(
        f"/api/v1/service-orders/{order_id}/results",
        data=b"x",
        content_type="multipart/form-data; boundary=x",
        environ_overrides={"CONTENT_LENGTH": str(52 * MB)},
    )
    assert answer.status_code == 413 and answer.json["error"]["code"] == "payload_too_large"


def test_an_upload_without_a_file_is_422(api, make):
    world, order_id = _in_progress(api, make)
    answer = api.as_(world.manager).post(
        f"/api/v1/service-orders/{order_id}/results",
        data={"note": "no file"},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 422 and "file" in answer.json["error"]["details"]
    assert (
        api.as_(world.manager).post(f"/api/v1/service-orders/{order_id}/results", json={}).status_code == 422
    )


def test_an_empty_file_is_a_result_too(api, make, result_store):
    world, order_id = _in_progress(api, make)
    uploaded = upload(api, world, order_id, b"", "empty.txt")
    assert uploaded.status_code == 201 and uploaded.json["size"] == 0
    assert uploaded.json["sha256"] == hashlib.sha256(b"").hexdigest()
