"""``Idempotency-Key`` for requests that create things: issuance and sealing.

The same key with the same body gets the first result again; the same key with another body
is a 409 ``idempotency-key-reused``; while the first request is still running a repeat gets
409 ``idempotency-in-progress``. Keys are scoped to the token that sent them.

Storage: one small file per key under ``H/run/idempotency/`` (no database table: the
migration slots are taken). A key is claimed with ``O_CREAT | O_EXCL``, so two workers of
one host racing on the same key cannot both proceed; the result is written next to it
when the request succeeds, and the claim is dropped when it fails (the client may retry).
A sealing's answer (the sealed document, which may be megabytes) is kept in a file of its own
next to the record (``<record>.body``), so a retry gets the very bytes sealed the first time
and no second seal is applied (``replay_once``).
Limitation: several hosts over one PostgreSQL do not share ``H``, so a retry that lands on
another host is not recognised — that needs a table (a future migration).
Entries older than ``ttl`` are ignored and replaced.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["IdempotencyStore", "Claim", "KeyReused", "InProgress", "run_once", "replay_once", "IDEMPOTENCY_HEADER",
           "REPLAYED_HEADER"]


class KeyReused(Exception):
    """The key was used before with a different request body."""


class InProgress(Exception):
    """The first request with this key has not finished."""


@dataclass
class Claim:
    path: Path
    result: dict[str, Any] | None = None   # set when the key was already completed


class IdempotencyStore:
    def __init__(self, home_path: Path, *, ttl_seconds: int = 86_400) -> None:
        self.folder = Path(home_path) / "run" / "idempotency"
        self.ttl = ttl_seconds

    def _path(self, scope: str, key: str) -> Path:
        return self.folder / hashlib.sha256(f"{scope}\0{key}".encode()).hexdigest()

    def claim(self, scope: str, key: str, body: bytes) -> Claim:
        """Claim ``key`` for this body, or return the stored result of the first request."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(scope, key)
        digest = hashlib.sha256(body).hexdigest()
        for _ in range(2):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            except FileExistsError:
                try:
                    record = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    record = None  # being written, or gone meanwhile
                if record is not None and time.time() - record.get("at", 0) > self.ttl:
                    path.unlink(missing_ok=True)
                    _body_path(path).unlink(missing_ok=True)
                    continue
                if record is None or record.get("body") is None:
                    raise InProgress(f"a request with Idempotency-Key {key!r} is still being processed") from None
                if record["body"] != digest:
                    raise KeyReused(f"Idempotency-Key {key!r} was used before with a different request body")
                if record.get("result") is None:
                    raise InProgress(f"a request with Idempotency-Key {key!r} is still being processed") from None
                return Claim(path, record["result"])
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"body": digest, "at": time.time(), "result": None}, handle)
            return Claim(path)
        raise InProgress(f"Idempotency-Key {key!r} is contended; retry")

    def complete(self, claim: Claim, result: dict[str, Any], body: bytes | None = None) -> None:
        """Record the first request's result; ``body`` (bytes answered as they are) is written
        first, so a record that names it is never seen without it."""
        if body is not None:
            _write_atomically(_body_path(claim.path), body)
        record = json.loads(claim.path.read_text(encoding="utf-8"))
        record["result"] = result
        _write_atomically(claim.path, json.dumps(record).encode("utf-8"))

    def body(self, claim: Claim) -> bytes:
        """The bytes a completed claim answered with (``complete(body=)``)."""
        return _body_path(claim.path).read_bytes()

    def release(self, claim: Claim) -> None:
        claim.path.unlink(missing_ok=True)
        _body_path(claim.path).unlink(missing_ok=True)


def _body_path(record: Path) -> Path:
    return record.with_name(record.name + ".body")


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def run_once(create: Any) -> tuple[dict[str, Any], bool]:
    """Run ``create()`` (returning a small JSON-able dict) at most once per ``Idempotency-Key``.

    Without the header it simply runs. Returns ``(result, repeated)``: ``repeated`` is True
    when the key had completed before and ``result`` is that first result. For views that
    ``@requires`` a token (keys are scoped to the token)."""
    claimed = _claim()
    if claimed is None:
        return create(), False
    store, claim = claimed
    if claim.result is not None:
        return claim.result, True
    try:
        result = create()
    except BaseException:
        store.release(claim)
        raise
    store.complete(claim, result)
    return result, False


def replay_once(create: Any) -> Any:
    """Run ``create()`` (returning a Flask Response) at most once per ``Idempotency-Key``:
    a repeat gets the first answer again -- status, media type and the very bytes -- with
    ``Idempotency-Replayed: true``. For sealing: a retry after a lost answer must not apply a
    second seal (one more signature, audit record and log entry). Only a success is kept."""
    from flask import Response

    claimed = _claim()
    if claimed is None:
        return create()
    store, claim = claimed
    if claim.result is not None:
        replayed = Response(store.body(claim), status=claim.result["status"], mimetype=claim.result["mimetype"])
        replayed.headers[REPLAYED_HEADER] = "true"
        return replayed
    try:
        response = create()
        kept = response.status_code < 400
        if kept:
            store.complete(claim, {"status": response.status_code, "mimetype": response.mimetype},
                           body=response.get_data())
    except BaseException:
        store.release(claim)
        raise
    if not kept:
        store.release(claim)
    return response


def _claim() -> tuple[IdempotencyStore, Claim] | None:
    """This request's claim on its Idempotency-Key (scoped to the token), None without one."""
    from flask import request

    from api.auth import principal
    from api.context import services
    from api.problems import Problem

    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not key.strip() or len(key) > 200:
        raise Problem(400, "invalid-request", "Idempotency-Key must be 1-200 characters")
    store = services().idempotency
    return store, store.claim(principal().token_id, key, _fingerprint(request))


def _fingerprint(request: Any) -> bytes:
    """What "the same request body" means: the bytes, except for a multipart form, whose
    boundary a client picks afresh for every request (curl does) -- there its fields and
    files, in a canonical order."""
    from api.request import multipart

    if request.mimetype != "multipart/form-data":
        return request.get_data(cache=True)
    form, files = multipart()
    digest = hashlib.sha256()
    for name, value in sorted(form.items(multi=True)):
        digest.update(json.dumps(["field", name, value]).encode() + b"\n")
    for name, upload in sorted(files.items(multi=True), key=lambda item: (item[0], item[1].filename or "")):
        data = upload.read()
        upload.seek(0)
        digest.update(json.dumps(["file", name, upload.filename, len(data)]).encode() + b"\n" + data)
    return digest.digest()


IDEMPOTENCY_HEADER = {"name": "Idempotency-Key", "in": "header", "required": False,
                      "schema": {"type": "string", "maxLength": 200},
                      "description": "repeat-safe creation: same key + same body returns the first result"}
REPLAYED_HEADER = "Idempotency-Replayed"
