"""File storage: the bytes of uploaded and generated files (lab results, invoice scans, exports).

A Flask extension (``storage = FileStorage()``, bound in ``create_app`` by ``storage.init_app``).
``STORAGE_BACKEND`` picks where the bytes live: ``local`` (default) a directory, ``STORAGE_LOCAL_PATH``
or ``<instance>/files``; ``s3`` any S3-compatible store (``STORAGE_S3_BUCKET``,
``STORAGE_S3_ENDPOINT_URL``, ``STORAGE_S3_REGION``; credentials from boto3's usual environment
variables). The bucket must exist.

The service only stores bytes and never touches the database: the caller keeps ``StoredFile``'s
key, size, sha256, content type and file name in its own row. Keys are made here (a uuid), never
from user input; a key of any other shape is refused before the store is asked.

If the request's transaction rolls back, the stored file is not removed by itself: **the caller
deletes it on failure** (``put`` after the checks, then ``delete`` in the ``except`` that re-raises).
A failure after the view returned (the commit itself) can leave a file no row names; such a file is
never served, since keys reach users only through rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import tempfile
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError
from flask import Flask, Response, current_app

from booking.core.errors import NotFound, ServiceUnavailable

CHUNK_BYTES = 1024 * 1024  # read and hash uploads this much at a time
PART_BYTES = 5 * 1024 * 1024  # S3 multipart part size (S3's minimum is 5 MiB, the last part excepted)
SEND_CHUNK_BYTES = 64 * 1024
KEY_PATTERN = re.compile(r"[0-9a-f]{32}")
BACKENDS = ("local", "s3")


@dataclass(frozen=True)
class StoredFile:
    key: str
    size: int
    sha256: str
    content_type: str
    filename: str


class FileMissing(NotFound):
    code = "file_not_found"

    def __init__(self) -> None:
        super().__init__("No such file.")


class StorageUnavailable(ServiceUnavailable):
    """The file store cannot be reached or written (503)."""

    code = "storage_unavailable"

    def __init__(self) -> None:
        super().__init__("The file store is unavailable; try again later.")


def checked_key(key: str) -> str:
    """A key this service made, or ``FileMissing`` (no path, no dots, no separators ever pass)."""
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
        raise FileMissing()
    return key


def attachment_header(filename: str) -> str:
    """``Content-Disposition: attachment`` (RFC 6266): an ASCII ``filename`` fallback and the
    UTF-8 ``filename*`` (RFC 8187) for any other name. Control characters (CR, LF: header
    injection), quotes, backslashes and path separators never reach the header."""
    name = "".join(c for c in filename if unicodedata.category(c)[0] != "C")
    name = name.replace("/", "_").replace("\\", "_").strip() or "download"
    fallback = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    fallback = re.sub(r'["%;]', "_", fallback).strip() or "download"
    if fallback == name:
        return f'attachment; filename="{fallback}"'
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _chunks(source: bytes | BinaryIO):
    if isinstance(source, (bytes, bytearray, memoryview)):
        view = memoryview(source)
        for start in range(0, len(view), CHUNK_BYTES):
            yield bytes(view[start : start + CHUNK_BYTES])
        return
    while chunk := source.read(CHUNK_BYTES):
        yield chunk


def _parts(chunks):
    """The chunks gathered into parts of at least ``PART_BYTES``, each a rewound ``BytesIO`` (the
    last one shorter; one empty part for an empty file)."""
    part = io.BytesIO()
    parts = 0
    for chunk in chunks:
        part.write(chunk)
        if part.tell() >= PART_BYTES:
            part.seek(0)
            parts += 1
            yield part
            part = io.BytesIO()
    if part.tell() or not parts:
        part.seek(0)
        yield part


class LocalStore:
    """A directory: ``<root>/<first two characters of the key>/<key>``, written to a temporary
    file beside it and renamed into place (a reader never sees half a file)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        key = checked_key(key)
        path = (self.root / key[:2] / key).resolve()
        if not path.is_relative_to(self.root):
            raise FileMissing()
        return path

    def write(self, key: str, chunks, content_type: str) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".part-")
            try:
                with os.fdopen(handle, "wb") as out:
                    for chunk in chunks:
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temporary, path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as error:
            raise StorageUnavailable() from error

    def open(self, key: str) -> tuple[BinaryIO, int]:
        path = self._path(key)
        try:
            stream = path.open("rb")
        except FileNotFoundError as error:
            raise FileMissing() from error
        except OSError as error:
            raise StorageUnavailable() from error
        return stream, os.fstat(stream.fileno()).st_size

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as error:
            raise StorageUnavailable() from error

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()


class S3Store:
    """A bucket of any S3-compatible store; uploads of more than one part go up as a multipart
    upload, one part in memory at a time."""

    def __init__(self, bucket: str, *, endpoint_url: str | None = None, region: str | None = None):
        self.bucket = bucket
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or None,
            config=BotoConfig(
                connect_timeout=5,
                read_timeout=30,
                retries={"mode": "standard", "max_attempts": 3},
            ),
        )

    def _call(self, method: str, **params):
        try:
            return getattr(self.client, method)(Bucket=self.bucket, **params)
        except ClientError as error:
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404 or error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise FileMissing() from error
            raise StorageUnavailable() from error
        except BotoCoreError as error:  # unreachable, timed out, no credentials
            raise StorageUnavailable() from error

    def write(self, key: str, chunks, content_type: str) -> None:
        parts = _parts(chunks)
        first = next(parts)
        if first.getbuffer().nbytes < PART_BYTES:  # the whole file fits in one part
            self._call("put_object", Key=key, Body=first, ContentType=content_type)
            return
        upload = self._call("create_multipart_upload", Key=key, ContentType=content_type)["UploadId"]
        try:
            done = [self._upload_part(key, upload, 1, first)]
            del first
            for body in parts:
                done.append(self._upload_part(key, upload, len(done) + 1, body))
                del body
            self._call("complete_multipart_upload", Key=key, UploadId=upload, MultipartUpload={"Parts": done})
        except BaseException:
            # if this fails too, the store drops unfinished uploads by its own lifecycle rules
            with contextlib.suppress(FileMissing, StorageUnavailable):
                self._call("abort_multipart_upload", Key=key, UploadId=upload)
            raise

    def _upload_part(self, key: str, upload: str, number: int, body: BinaryIO) -> dict:
        answer = self._call("upload_part", Key=key, UploadId=upload, PartNumber=number, Body=body)
        return {"ETag": answer["ETag"], "PartNumber": number}

    def open(self, key: str) -> tuple[BinaryIO, int]:
        answer = self._call("get_object", Key=checked_key(key))
        return answer["Body"], answer["ContentLength"]

    def delete(self, key: str) -> None:
        self._call("delete_object", Key=checked_key(key))

    def exists(self, key: str) -> bool:
        key = checked_key(key)
        try:
            self._call("head_object", Key=key)
        except FileMissing:
            return False
        return True


def store_for(app: Flask) -> LocalStore | S3Store:
    """The store the app's configuration names."""
    config = app.config
    if config["STORAGE_BACKEND"] == "s3":
        return S3Store(
            config["STORAGE_S3_BUCKET"],
            endpoint_url=config.get("STORAGE_S3_ENDPOINT_URL"),
            region=config.get("STORAGE_S3_REGION"),
        )
    return LocalStore(config.get("STORAGE_LOCAL_PATH") or Path(app.instance_path) / "files")


class FileStorage:
    """``put`` / ``open`` / ``send`` / ``delete`` / ``exists`` on the current app's store."""

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        app.config.setdefault("STORAGE_BACKEND", "local")
        backend = app.config["STORAGE_BACKEND"]
        if backend not in BACKENDS:
            raise ValueError(f"STORAGE_BACKEND must be one of {', '.join(BACKENDS)}, not {backend!r}.")
        if backend == "s3" and not app.config.get("STORAGE_S3_BUCKET"):
            raise ValueError("STORAGE_BACKEND=s3 needs STORAGE_S3_BUCKET.")
        # built on first use: the instance folder may still change (tests) and boto3 is not needed before
        app.extensions["file_storage"] = {}

    @property
    def store(self) -> LocalStore | S3Store:
        slot = current_app.extensions["file_storage"]
        if "store" not in slot:
            slot["store"] = store_for(current_app)
        return slot["store"]

    def put(self, source: bytes | BinaryIO, *, filename: str, content_type: str) -> StoredFile:
        """Store bytes or a readable binary stream, read in chunks (size and sha256 counted on
        the way), under a new key."""
        key = uuid.uuid4().hex
        digest = hashlib.sha256()
        size = 0

        def counted():
            nonlocal size
            for chunk in _chunks(source):
                size += len(chunk)
                digest.update(chunk)
                yield chunk

        self.store.write(key, counted(), content_type)
        return StoredFile(key, size, digest.hexdigest(), content_type, filename)

    def open(self, key: str) -> BinaryIO:
        """A readable binary stream of the file (the caller closes it); ``FileMissing`` if none."""
        return self.store.open(key)[0]

    def send(self, key: str, *, filename: str, content_type: str) -> Response:
        """The file as a download (``Content-Disposition: attachment``), streamed in chunks."""
        stream, size = self.store.open(key)

        def body():
            try:
                while chunk := stream.read(SEND_CHUNK_BYTES):
                    yield chunk
            finally:
                stream.close()

        response = Response(body(), mimetype=None, content_type=content_type, direct_passthrough=True)
        response.headers["Content-Disposition"] = attachment_header(filename)
        response.headers["Content-Length"] = str(size)
        response.call_on_close(stream.close)
        return response

    def delete(self, key: str) -> None:
        """Remove the file; removing one that is already gone is not an error."""
        self.store.delete(key)

    def exists(self, key: str) -> bool:
        return self.store.exists(key)


storage = FileStorage()
