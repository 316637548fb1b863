"""``Idempotency-Key`` for requests that create things (issuance now, sealing later).

The same key with the same body gets the first result again; the same key with another body
is a 409 ``idempotency-key-reused``; while the first request is still running a repeat gets
409 ``idempotency-in-progress``. Keys are scoped to the token that sent them.

Storage: one small file per key under ``H/run/idempotency/`` (no database table: the
migration slots are taken). A key is claimed with ``O_CREAT | O_EXCL``, so two workers of
one host racing on the same key cannot both proceed; the result is written next to it
when the request succeeds, and the claim is dropped when it fails (the client may retry).
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

__all__ = ["IdempotencyStore", "Claim", "KeyReused", "InProgress", "run_once", "IDEMPOTENCY_HEADER"]


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

    def complete(self, claim: Claim, result: dict[str, Any]) -> None:
        record = json.loads(claim.path.read_text(encoding="utf-8"))
        record["result"] = result
        tmp = claim.path.with_name(claim.path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(record), encoding="utf-8")
        os.replace(tmp, claim.path)

    def release(self, claim: Claim) -> None:
        claim.path.unlink(missing_ok=True)


def run_once(create: Any) -> tuple[dict[str, Any], bool]:
    """Run ``create()`` (returning a small JSON-able dict) at most once per ``Idempotency-Key``.

    Without the header it simply runs. Returns ``(result, repeated)``: ``repeated`` is True
    when the key had completed before and ``result`` is that first result. For views that
    ``@requires`` a token (keys are scoped to the token)."""
    from api.auth import principal
    from api.context import services
    from api.problems import Problem
    from flask import request

    key = request.headers.get("Idempotency-Key")
    if key is None:
        return create(), False
    if not key.strip() or len(key) > 200:
        raise Problem(400, "invalid-request", "Idempotency-Key must be 1-200 characters")
    store = services().idempotency
    claim = store.claim(principal().token_id, key, request.get_data(cache=True))
    if claim.result is not None:
        return claim.result, True
    try:
        result = create()
    except BaseException:
        store.release(claim)
        raise
    store.complete(claim, result)
    return result, False


IDEMPOTENCY_HEADER = {"name": "Idempotency-Key", "in": "header", "required": False,
                      "schema": {"type": "string", "maxLength": 200},
                      "description": "repeat-safe creation: same key + same body returns the first result"}
