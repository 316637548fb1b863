"""CRLs served over HTTP from files in ``H/public/crl/``, regenerated when stale.

A CRL costs a CRL number, a signature and an audit record, so it is not made per request:
``<issuer id>.crl`` (full) and ``<issuer id>-delta.crl`` sit next to a small JSON file
saying when they were made and from which database state. A request serves the file when

* it is younger than ``max_age`` (``crl_max_age_seconds``), and
* the issuer's status marker is what it was when the file was made, and
* (delta) it was made against the full CRL that is being served now.

The status marker is one aggregate query over the issuer's certificates: the number on
hold, the number revoked and the newest ``status_changed_at``. Every status change moves it
(suspend, resume and revoke each change a count and stamp the time) — made by any worker
process or host, since it is read from the shared database. The one blind spot is two
changes that cancel out in the counts within the same second as the newest stamp (e.g. a
resume and a suspension of two certificates in one second): a file made less than
``settle`` seconds after its newest stamp is therefore made once more when that window has
passed, so even that case is served at most ``settle`` seconds late.

Per request: one short read-only transaction (the status marker) and a stat of the meta
file; the CA behind an issuer id (immutable) and the parsed meta file (keyed on the file's
inode and mtime, so a replacement by another worker is seen) are kept in memory.

Files are replaced atomically (write + rename) under an exclusive ``flock`` of
``H/public/crl/.lock``, and a process re-checks after taking the lock, so several workers
that notice the same change produce one new CRL, not one each. Because they are plain
files, any web server or CDN can serve ``H/public/crl`` as well.
"""
from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import case, func, select

from gm.records import frozen_record
from store import db
from store.models.ca import CertificateAuthority, IssuedCertificate

__all__ = ["CRLCache", "UnknownIssuer", "NoCRL", "status_marker"]

UTC = _dt.timezone.utc


class UnknownIssuer(LookupError):
    """No CA of this region has that issuer id (hex SKI)."""


class NoCRL(LookupError):
    """This CA publishes no CRL of that kind (yet)."""


def _now() -> _dt.datetime:
    return _dt.datetime.now(UTC)


def status_marker(session: Any, issuer_id: int) -> list[Any]:
    """[on hold, revoked, newest status change (ISO or None)] of the issuer's certificates."""
    held, revoked, newest = session.execute(
        select(func.coalesce(func.sum(case((IssuedCertificate.status == "hold", 1), else_=0)), 0),
               func.coalesce(func.sum(case((IssuedCertificate.status == "revoked", 1), else_=0)), 0),
               func.max(IssuedCertificate.status_changed_at))
        .where(IssuedCertificate.issuer_id == issuer_id)).one()
    if newest is not None and newest.tzinfo is None:
        newest = newest.replace(tzinfo=UTC)
    return [int(held), int(revoked), newest.isoformat() if newest else None]


@frozen_record
class _Authority:
    """What the cache needs of a CA row, detached from any session (shared by threads)."""

    id: int
    ski: str
    kind: str
    name: str


@frozen_record
class _Meta:
    generation: str
    made_at: str
    marker: list[Any]
    base_generation: str | None = None

    @property
    def made(self) -> _dt.datetime:
        return _dt.datetime.fromisoformat(self.made_at)


class CRLCache:
    def __init__(self, home: Any, keystore: Any, *, sessions: Any = None, max_age_seconds: int = 3600,
                 settle_seconds: int = 5) -> None:
        self.home = home
        self.keystore = keystore
        self.sessions = sessions if sessions is not None else db.make_sessionmaker(home.engine)
        self.max_age = _dt.timedelta(seconds=max_age_seconds)
        self.settle = _dt.timedelta(seconds=settle_seconds)
        self.folder = Path(home.path) / "public" / "crl"
        self._memory: dict[str, tuple[str, bytes]] = {}  # file name -> (generation, bytes)
        self._authorities: dict[str, _Authority] = {}     # issuer id (lower-case hex) -> CA
        self._metas: dict[str, tuple[tuple[int, int], _Meta]] = {}  # file name -> ((inode, mtime), meta)
        self._thread_lock = threading.Lock()
        self.generated = 0  # CRLs this process made (for tests and metrics)

    # ------------------------------------------------------------------ public

    def get(self, issuer_id: str, *, delta: bool = False) -> bytes:
        """The current DER CRL (full or delta) of the CA whose hex SKI is ``issuer_id``."""
        authority = self._authority(issuer_id)
        with db.transaction(self.sessions, readonly=True) as s:
            marker = status_marker(s, authority.id)
        full_name = f"{authority.ski}.crl"
        full = self._fresh(full_name, marker, None)
        if full is None:
            full = self._regenerate(authority, full_name, marker, None)
        if not delta:
            return self._bytes(full_name, full)
        delta_name = f"{authority.ski}-delta.crl"
        meta = self._fresh(delta_name, marker, full.generation)
        if meta is None:
            meta = self._regenerate(authority, delta_name, marker, full.generation)
        return self._bytes(delta_name, meta)

    # ------------------------------------------------------------------ internals

    def _authority(self, issuer_id: str) -> _Authority:
        text = issuer_id.lower()
        known = self._authorities.get(text)
        if known is not None:
            return known
        if not text or len(text) > 40 or any(c not in "0123456789abcdef" for c in text):
            raise UnknownIssuer(f"{issuer_id!r} is not an issuer id (the CA's key identifier in hex)")
        with db.transaction(self.sessions, readonly=True) as s:
            row = s.scalar(select(CertificateAuthority).where(CertificateAuthority.ski == text))
            if row is None:
                raise UnknownIssuer(f"no CA of this region has the issuer id {issuer_id}")
            found = _Authority(row.id, row.ski, row.kind, row.name)
        self._authorities[text] = found
        return found

    def _read_meta(self, name: str) -> _Meta | None:
        path = self.folder / (name + ".json")
        try:
            st = os.stat(path)
            key = (st.st_ino, st.st_mtime_ns)
            cached = self._metas.get(name)
            if cached is not None and cached[0] == key:
                return cached[1]
            meta = _Meta(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None
        self._metas[name] = (key, meta)
        return meta

    def _fresh(self, name: str, marker: list[Any], base_generation: str | None) -> _Meta | None:
        meta = self._read_meta(name)
        if meta is None or not (self.folder / name).is_file():
            return None
        now = _now()
        if meta.marker != marker or now - meta.made >= self.max_age or meta.base_generation != base_generation:
            return None
        newest = marker[2]
        if newest is not None:
            changed = _dt.datetime.fromisoformat(newest)
            if meta.made < changed + self.settle <= now:  # made inside the settle window, which is over
                return None
        return meta

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._thread_lock, open(self.folder / ".lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _regenerate(self, authority: _Authority, name: str, marker: list[Any],
                    base_generation: str | None) -> _Meta:
        with self._locked():
            # another worker may have made it while we waited for the lock
            with db.transaction(self.sessions, readonly=True) as s:
                marker = status_marker(s, authority.id)
            meta = self._fresh(name, marker, base_generation)
            if meta is not None:
                return meta
            made_at = _now()
            der = self._generate(authority, delta=base_generation is not None)
            meta = _Meta(uuid.uuid4().hex, made_at.isoformat(), marker, base_generation)
            self._write(self.folder / name, der)
            self._write(self.folder / (name + ".json"), json.dumps(meta.__dict__).encode())
            self._memory[name] = (meta.generation, der)
            self.generated += 1
            return meta

    def _generate(self, authority: _Authority, *, delta: bool) -> bytes:
        from ca import service

        if authority.kind == "root" and delta:
            raise NoCRL(f"CA {authority.name} (the root) publishes full CRLs only, no delta CRL")
        return service.generate_crl(self.home, self.keystore, delta=delta, authority=authority.kind,
                                    actor="crl-publisher", sessions=self.sessions)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def _bytes(self, name: str, meta: _Meta) -> bytes:
        cached = self._memory.get(name)
        if cached is not None and cached[0] == meta.generation:
            return cached[1]
        data = (self.folder / name).read_bytes()
        # the file may have been replaced after the meta was read: check its generation again
        if self._read_meta(name) == meta:
            self._memory[name] = (meta.generation, data)
        return data
