"""Result files of service orders: the lab uploads them while the order is in progress; the team
and the lab download them.

The bytes go to ``booking.core.storage`` (a local directory by default, S3 by configuration) under a
key the store makes; the row keeps the file name as uploaded (only path parts and control characters
dropped), its size and its sha256, both counted while the upload streams through. A file larger than
``MAX_RESULT_BYTES`` is refused (413 ``payload_too_large``) and nothing of it is kept.
"""

from __future__ import annotations

import contextlib
import unicodedata
from collections.abc import Iterator
from typing import BinaryIO

from flask import Response

from booking.core import clock
from booking.core.body_limits import MB
from booking.core.db import db
from booking.core.errors import DomainError, NotFound
from booking.core.storage import CHUNK_BYTES, storage
from booking.flow import service_mail
from booking.flow.service_orders import invalid_status, managed_order, manages_order
from booking.models import User
from instruments.models import ServiceOrder, ServiceOrderResult, ServiceOrderStatus

MAX_RESULT_BYTES = 50 * MB
# the upload endpoint's body limit: the file plus the multipart envelope around it
RESULT_BODY_LIMIT = MAX_RESULT_BYTES + MB
FILENAME_MAX = 255
CONTENT_TYPE_MAX = 200
DEFAULT_CONTENT_TYPE = "application/octet-stream"


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(
        f"A result file is at most {MAX_RESULT_BYTES // MB} MB.",
        details={"file": [f"At most {MAX_RESULT_BYTES // MB} MB."]},
    )


def clean_filename(filename: str | None) -> str:
    """The name as uploaded, without a client's path (``C:\\x\\a.pdf`` → ``a.pdf``) or control
    characters, at most 255 characters (the extension kept)."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()
    if len(name) > FILENAME_MAX:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 16:
            name = stem[: FILENAME_MAX - len(extension) - 1] + "." + extension
        else:
            name = name[:FILENAME_MAX]
    return name or "result"


def _clean_content_type(content_type: str | None) -> str:
    value = (content_type or "").strip()
    if not value or len(value) > CONTENT_TYPE_MAX or any(ord(c) < 32 or ord(c) > 126 for c in value):
        return DEFAULT_CONTENT_TYPE
    return value


def _bounded(stream: BinaryIO | bytes) -> Iterator[bytes]:
    """The stream's chunks, refusing (413) as soon as more than ``MAX_RESULT_BYTES`` have passed."""
    if isinstance(stream, (bytes, bytearray)):
        if len(stream) > MAX_RESULT_BYTES:
            raise _too_large()
        yield bytes(stream)
        return
    seen = 0
    while chunk := stream.read(CHUNK_BYTES):
        seen += len(chunk)
        if seen > MAX_RESULT_BYTES:
            raise _too_large()
        yield chunk


class _ChunkReader:
    """A ``read()`` over an iterator of chunks (what ``storage.put`` reads from)."""

    def __init__(self, chunks: Iterator[bytes]):
        self.chunks = chunks

    def read(self, _size: int = -1) -> bytes:
        return next(self.chunks, b"")


def add_result(
    actor: User,
    order: ServiceOrder,
    *,
    filename: str | None,
    stream: BinaryIO | bytes,
    content_type: str | None,
) -> ServiceOrderResult:
    """Store one result file of an order in progress (the lab's managers)."""
    managed_order(actor, order)
    if order.status != ServiceOrderStatus.IN_PROGRESS:
        raise invalid_status(order, "given results")
    name = clean_filename(filename)
    kind = _clean_content_type(content_type)
    stored = storage.put(_ChunkReader(_bounded(stream)), filename=name, content_type=kind)
    try:
        result = ServiceOrderResult(
            order_id=order.id,
            storage_key=stored.key,
            filename=name,
            size=stored.size,
            sha256=stored.sha256,
            content_type=kind,
            uploaded_by_id=actor.id,
            uploaded_at=clock.now(),
        )
        db.session.add(result)
        db.session.flush()
        db.session.refresh(order)
        service_mail.order_event(order, "result_uploaded")
    except BaseException:
        with contextlib.suppress(DomainError):
            storage.delete(stored.key)
        raise
    return result


def may_download(actor: User, order: ServiceOrder) -> bool:
    """Team members and the lab's managers (admins too); finance sees the order, not the files."""
    return order.team.has_member(actor) or manages_order(actor, order)


def result_for(actor: User, order: ServiceOrder, result_id: int) -> ServiceOrderResult:
    """One result file of the order, if the actor may download it; otherwise 404."""
    result = db.session.get(ServiceOrderResult, result_id)
    if result is None or result.order_id != order.id or not may_download(actor, order):
        raise NotFound("No such result file.")
    return result


def open_result(actor: User, order: ServiceOrder, result_id: int) -> Response:
    """The result file as a download (``Content-Disposition: attachment``, the name as uploaded:
    an ASCII fallback and the UTF-8 ``filename*``), streamed from the store."""
    result = result_for(actor, order, result_id)
    return storage.send(result.storage_key, filename=result.filename, content_type=result.content_type)
