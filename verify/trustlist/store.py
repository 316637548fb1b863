"""The trust store: the services of verified trust lists, asked "granted at time T?".

A service's effective status at T is its status in its region's TL at T *and* the status
of that region's pointer in the national LOTL at T (a withdrawn region withdraws every
service it lists). CA services (root_ca, issuing_ca) are the trust anchors of path
validation: :meth:`TrustStore.anchors` lists them whatever their status, so a chain to a
withdrawn CA is found and reported as TRUST_SERVICE_WITHDRAWN rather than as no chain at
all; :meth:`anchor_status` gives the answer at the validation time. Certificates added with
:meth:`add_anchor` (the home's own root) are always granted.

Every answer rests on signed lists (the TL, and the LOTL that pointed at it):
:meth:`anchor_lists` names them with their next update, so that a report can say when the
list an anchor came from is past due (path validation's ``TRUST_LIST_FRESHNESS``).
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import Any

from asn1crypto import x509

from gm.records import frozen_record
from verify.certfacts import facts_of
from verify.path import load_certificate
from verify.trustlist.model import Pointer, Service, StatusPeriod, TrustList, format_time, status_at

__all__ = ["TrustStore", "ServiceStatus", "ListRef", "ANCHOR_TYPES"]

ANCHOR_TYPES = ("root_ca", "issuing_ca")


@frozen_record
class ServiceStatus:
    status: str                       # "granted", "withdrawn", "unknown"
    service_type: str = ""
    service_name: str = ""
    territory: str = ""
    since: _dt.datetime | None = None
    reason: str = ""

    @property
    def granted(self) -> bool:
        return self.status == "granted"


@frozen_record
class ListRef:
    """One signed list a service's status comes from, as a report names it."""

    kind: str                         # "TL" or "LOTL"
    scheme_operator: str
    territory: str
    sequence_number: int
    next_update: _dt.datetime
    source: str = ""                  # the URL or file it was read from, when known

    @classmethod
    def of(cls, tl: TrustList, source: str = "") -> ListRef:
        return cls(tl.type, tl.scheme_operator, tl.scheme_territory, tl.sequence_number, tl.next_update, source)

    def stale_at(self, now: _dt.datetime) -> bool:
        """Past its next update (the same test import applies before storing a list)."""
        return self.next_update < now

    # made once per list, not per report (cached_property writes the instance's __dict__)
    @cached_property
    def due(self) -> str:
        return format_time(self.next_update)

    @cached_property
    def label(self) -> str:
        where = f" from {self.source}" if self.source else ""
        return f"{self.kind} {self.territory} ({self.scheme_operator}, sequence {self.sequence_number}){where}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "scheme_operator": self.scheme_operator, "territory": self.territory,
                "sequence_number": self.sequence_number, "next_update": self.due, "source": self.source}


@frozen_record
class _Entry:
    service: Service
    territory: str
    scheme_operator: str
    pointer_history: tuple[StatusPeriod, ...] | None
    lists: tuple[ListRef, ...] = ()   # the TL first, then the LOTL that pointed at it


class TrustStore:
    """Implements verify.path.TrustSource over trust lists."""

    def __init__(self) -> None:
        self._entries: list[_Entry] = []
        self._by_der: dict[bytes, list[_Entry]] = {}
        self._static: dict[bytes, x509.Certificate] = {}
        self._intermediates: dict[bytes, x509.Certificate] = {}
        self.lists: list[TrustList] = []
        self.unusable: list[tuple[str, str]] = []   # (source, why): stored lists left out
        self.version = 0            # bumped on every change: path validation caches by it

    # ------------------------------------------------------------------------------ building

    def add_list(self, tl: TrustList, pointer: Pointer | None = None, *, source: str = "",
                 national: ListRef | None = None) -> None:
        """Add a verified TL (with the LOTL pointer that led to it, when there is one, and that
        LOTL as ``national``); ``source`` is where the TL was read from."""
        if tl.type != "TL":
            raise ValueError("only TLs hold services; a LOTL is followed by the import service")
        self.lists.append(tl)
        self.version += 1
        history = pointer.history if pointer is not None else None
        lists = (ListRef.of(tl, source), *((national,) if national is not None else ()))
        for service in tl.services:
            entry = _Entry(service, tl.scheme_territory, tl.scheme_operator, history, lists)
            self._entries.append(entry)
            for cert in service.certificates:
                self._by_der.setdefault(cert.dump(), []).append(entry)

    def add_anchor(self, cert: x509.Certificate | bytes) -> None:
        cert = load_certificate(cert)
        self._static[cert.dump()] = cert
        self.version += 1

    def add_intermediate(self, cert: x509.Certificate | bytes) -> None:
        """A CA certificate offered to path building, trusted only through a chain to an anchor."""
        cert = load_certificate(cert)
        self._intermediates[cert.dump()] = cert
        self.version += 1

    @classmethod
    def of(cls, lists: Iterable[tuple[TrustList, Pointer | None]] = (),
           anchors: Iterable[x509.Certificate | bytes] = ()) -> TrustStore:
        store = cls()
        for tl, pointer in lists:
            store.add_list(tl, pointer)
        for a in anchors:
            store.add_anchor(a)
        return store

    # ------------------------------------------------------------------------------ questions

    def service_status_at(self, cert: x509.Certificate | bytes, at: _dt.datetime) -> ServiceStatus:
        """Was the service of this certificate granted at ``at``?"""
        return self._answer(cert, at)[0]

    def anchor_lists(self, cert: x509.Certificate | bytes, at: _dt.datetime) -> tuple[ListRef, ...]:
        """The signed lists the answer for ``cert`` at ``at`` rests on (none for a configured anchor)."""
        entries = self._by_der.get(facts_of(cert).der)
        if entries is not None and len(entries) == 1:   # the usual case: no choice to make
            return entries[0].lists
        entry = self._answer(cert, at)[1]
        return entry.lists if entry is not None else ()

    def _answer(self, cert: x509.Certificate | bytes, at: _dt.datetime) -> tuple[ServiceStatus, _Entry | None]:
        cert = load_certificate(cert)
        der = facts_of(cert).der
        if der in self._static:
            return ServiceStatus("granted", "anchor", cert.subject.human_friendly,
                                 reason="configured trust anchor"), None
        entries = self._by_der.get(der)
        if not entries:
            return ServiceStatus("unknown", reason="the certificate is not in any trust list"), None
        # listed in several TLs (regions): one granting it is enough; one TL cannot list a
        # certificate twice under one type (model.py refuses such a list)
        best = None
        for e in entries:
            st = self._entry_status(e, at)
            if st.granted:
                return st, e
            best = best or (st, e)
        return best

    def _entry_status(self, e: _Entry, at: _dt.datetime) -> ServiceStatus:
        s = e.service
        common = dict(service_type=s.type, service_name=s.name, territory=e.territory)
        if e.pointer_history is not None:
            p = status_at(e.pointer_history, at)
            if p is None:
                return ServiceStatus("withdrawn", **common, reason=f"region {e.territory} was not yet in the "
                                     f"national list at {format_time(at)}")
            if p.status != "granted":
                return ServiceStatus("withdrawn", **common, since=p.start,
                                     reason=f"region {e.territory} withdrawn from the national list since "
                                            f"{format_time(p.start)}")
        period = status_at(s.history, at)
        if period is None:
            return ServiceStatus("withdrawn", **common, reason=f"service {s.name} was not yet granted at {format_time(at)}")
        if period.status != "granted":
            return ServiceStatus("withdrawn", **common, since=period.start,
                                 reason=f"service {s.name} withdrawn since {format_time(period.start)}")
        return ServiceStatus("granted", **common, since=period.start,
                             reason=f"{s.type} service {s.name} ({e.territory}) granted since {format_time(period.start)}")

    def anchors(self) -> Sequence[x509.Certificate]:
        out = list(self._static.values())
        for e in self._entries:
            if e.service.type in ANCHOR_TYPES:
                out.extend(e.service.certificates)
        return out

    def anchors_at(self, at: _dt.datetime) -> list[x509.Certificate]:
        """The anchors whose service was granted at ``at``."""
        return [c for c in self.anchors() if self.service_status_at(c, at).granted]

    def intermediates(self) -> Sequence[x509.Certificate]:
        return list(self._intermediates.values())

    def anchor_status(self, cert: x509.Certificate, at: _dt.datetime) -> tuple[bool, str]:
        st = self.service_status_at(cert, at)
        return st.granted, st.reason

    def license_status_uri(self, territory: str) -> str | None:
        """Where the region ``territory`` (``CN-440000``) answers for its e-licenses, as its
        newest TL here says (None when no TL of that region names one)."""
        found = [tl for tl in self.lists if tl.scheme_territory == territory and tl.license_status_uri]
        return max(found, key=lambda tl: tl.sequence_number).license_status_uri if found else None

    def services(self, service_type: str | None = None) -> list[Service]:
        return [e.service for e in self._entries if service_type in (None, e.service.type)]
