"""The trust store: the services of verified trust lists, asked "granted at time T?".

A service's effective status at T is its status in its region's TL at T *and* the status
of that region's pointer in the national LOTL at T (a withdrawn region withdraws every
service it lists). CA services (root_ca, issuing_ca) are the trust anchors of path
validation: :meth:`TrustStore.anchors` lists them whatever their status, so a chain to a
withdrawn CA is found and reported as TRUST_SERVICE_WITHDRAWN rather than as no chain at
all; :meth:`anchor_status` gives the answer at the validation time. Certificates added with
:meth:`add_anchor` (the home's own root) are always granted.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Sequence

from asn1crypto import x509

from gm.records import frozen_record
from verify.certfacts import facts_of
from verify.path import load_certificate
from verify.trustlist.model import Pointer, Service, StatusPeriod, TrustList, format_time, status_at

__all__ = ["TrustStore", "ServiceStatus", "ANCHOR_TYPES"]

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
class _Entry:
    service: Service
    territory: str
    scheme_operator: str
    pointer_history: tuple[StatusPeriod, ...] | None


class TrustStore:
    """Implements verify.path.TrustSource over trust lists."""

    def __init__(self) -> None:
        self._entries: list[_Entry] = []
        self._by_der: dict[bytes, list[_Entry]] = {}
        self._static: dict[bytes, x509.Certificate] = {}
        self._intermediates: dict[bytes, x509.Certificate] = {}
        self.lists: list[TrustList] = []
        self.version = 0            # bumped on every change: path validation caches by it

    # ------------------------------------------------------------------------------ building

    def add_list(self, tl: TrustList, pointer: Pointer | None = None) -> None:
        """Add a verified TL (with the LOTL pointer that led to it, when there is one)."""
        if tl.type != "TL":
            raise ValueError("only TLs hold services; a LOTL is followed by the import service")
        self.lists.append(tl)
        self.version += 1
        history = pointer.history if pointer is not None else None
        for service in tl.services:
            entry = _Entry(service, tl.scheme_territory, tl.scheme_operator, history)
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
        cert = load_certificate(cert)
        der = facts_of(cert).der
        if der in self._static:
            return ServiceStatus("granted", "anchor", cert.subject.human_friendly, reason="configured trust anchor")
        entries = self._by_der.get(der)
        if not entries:
            return ServiceStatus("unknown", reason="the certificate is not in any trust list")
        best = None
        for e in entries:
            st = self._entry_status(e, at)
            if st.granted:
                return st
            best = best or st
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
