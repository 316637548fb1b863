"""Name constraints along a certification path (RFC 5280 §4.2.1.10, §6.1.3 (b)-(c), §6.1.4 (g)).

A CA certificate may limit the names of every certificate below it: ``permittedSubtrees``
(names of a form must fall inside one subtree of that form, when the CA lists any of that
form) and ``excludedSubtrees`` (no name may fall inside one). Checking each certificate
against every CA above it on the path is the same as RFC 5280's running intersection of
permitted and union of excluded subtrees, and reads more plainly.

Which names are checked: the subject DN (directoryName, when not empty), every
subjectAltName entry, and an ``emailAddress`` attribute of the subject DN as an
rfc822Name. Self-issued CA certificates inside the path are skipped (§6.1.3 (b)); the
leaf never is. The trust anchor's own constraints apply too (as OpenSSL applies them): a
regional root that confines itself to its province binds every certificate under it.

Forms: directoryName (RDN prefix, compared with RFC 5280 name matching), rfc822Name
(mailbox, host, or ``.domain``), dNSName (the name or any subdomain; ``.domain`` for
subdomains only), uniformResourceIdentifier (its host, as a dNSName with ``.domain``
meaning subdomains) and iPAddress (address and mask). A constraint on any other form, or a
subtree with minimum/maximum other than 0/absent, cannot be processed: a certificate
carrying a name of that form is refused, as §4.2.1.10 requires of a critical extension.
"""
from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from dataclasses import field
from typing import Any

from asn1crypto import x509

from gm.records import frozen_record

__all__ = ["Constraints", "constraints_of", "names_of", "within", "violations"]

# asn1crypto GeneralName choice -> our form name
_FORMS = {"directory_name": "directoryName", "rfc822_name": "rfc822Name", "dns_name": "dNSName",
          "uniform_resource_identifier": "uniformResourceIdentifier", "ip_address": "iPAddress",
          "other_name": "otherName", "x400_address": "x400Address", "edi_party_name": "ediPartyName",
          "registered_id": "registeredID"}
SUPPORTED = frozenset({"directoryName", "rfc822Name", "dNSName", "uniformResourceIdentifier", "iPAddress"})


@frozen_record
class Constraints:
    """One CA's name constraints: subtrees by form (values as :func:`_value` reads them)."""

    permitted: dict[str, list[Any]] = field(default_factory=dict)
    excluded: dict[str, list[Any]] = field(default_factory=dict)
    problem: str | None = None      # a subtree this validator cannot apply (min/max)

    def describe(self, form: str, permitted: bool) -> str:
        values = (self.permitted if permitted else self.excluded).get(form, [])
        return ", ".join(_show(form, v) for v in values)


def _value(form: str, general_name: Any) -> Any:
    """A name or subtree base in a comparable shape."""
    chosen = general_name.chosen
    if form == "directoryName":
        return tuple(rdn.hashable for rdn in chosen.chosen)
    if form in ("rfc822Name", "dNSName", "uniformResourceIdentifier"):
        return str(chosen.native)
    if form == "iPAddress":
        return bytes(chosen.contents)
    return chosen.dump()


def _show(form: str, value: Any) -> str:
    if form == "directoryName":
        return "/".join(v.strip() for v in value) or "(empty DN)"
    if form == "iPAddress":
        return value.hex()
    return str(value)


def constraints_of(cert: x509.Certificate) -> Constraints | None:
    """The certificate's name constraints (None when it has none). Raises ValueError for a
    malformed extension."""
    nc = cert.name_constraints_value
    if nc is None:
        return None
    out = Constraints()
    for key, target in (("permitted_subtrees", out.permitted), ("excluded_subtrees", out.excluded)):
        subtrees = nc[key]
        if subtrees.native is None:
            continue
        for subtree in subtrees:
            if subtree["minimum"].native not in (0, None) or subtree["maximum"].native is not None:
                object.__setattr__(out, "problem", "a subtree with minimum/maximum (RFC 5280 requires 0/absent)")
            form = _FORMS.get(subtree["base"].name, subtree["base"].name)
            target.setdefault(form, []).append(_value(form, subtree["base"]))
    return out


def names_of(cert: x509.Certificate) -> list[tuple[str, Any]]:
    """The names constraints apply to: subject DN (non-empty), subject emailAddress, SANs."""
    out: list[tuple[str, Any]] = []
    subject = cert.subject
    rdns = list(subject.chosen)
    if rdns:
        out.append(("directoryName", tuple(rdn.hashable for rdn in rdns)))
        for rdn in rdns:
            for atv in rdn:
                if atv["type"].native == "email_address":
                    out.append(("rfc822Name", str(atv["value"].native)))
    san = cert.subject_alt_name_value
    if san is not None:
        for gn in san:
            form = _FORMS.get(gn.name, gn.name)
            out.append((form, _value(form, gn)))
    return out


def _host_within(host: str, base: str) -> bool:
    host, base = host.lower().rstrip("."), base.lower().rstrip(".")
    if not base:
        return True
    if base.startswith("."):
        return host.endswith(base)
    return host == base or host.endswith("." + base)


def within(form: str, name: Any, base: Any) -> bool:
    """Is ``name`` inside the subtree ``base`` of the same form? (``form`` must be SUPPORTED.)"""
    if form == "directoryName":
        return len(name) >= len(base) and name[:len(base)] == base
    if form == "dNSName":
        return _host_within(name, base)
    if form == "rfc822Name":
        local, at, host = name.rpartition("@")
        if "@" in base:                                  # one mailbox
            b_local, _, b_host = base.rpartition("@")
            return bool(at) and local == b_local and host.lower() == b_host.lower()
        if base.startswith("."):                         # any host in that domain
            return host.lower().endswith(base.lower())
        return host.lower() == base.lower()              # every mailbox at that host
    if form == "uniformResourceIdentifier":
        host = urllib.parse.urlsplit(name).hostname or ""
        base = base.lower()
        return host.endswith(base) if base.startswith(".") else host == base
    if form == "iPAddress":
        if len(base) != 2 * len(name):
            return False
        addr, mask = base[:len(name)], base[len(name):]
        return all((n & m) == (a & m) for n, a, m in zip(name, addr, mask, strict=True))
    raise ValueError(f"name form {form} is not supported")


def violations(path: Sequence[x509.Certificate]) -> tuple[list[str], int]:
    """(what breaks the constraints, how many CAs on the path carry constraints).
    ``path`` is leaf first, anchor last. Raises ValueError for an unreadable extension."""
    cas = [(j, constraints_of(path[j])) for j in range(1, len(path))]
    cas = [(j, c) for j, c in cas if c is not None]
    problems: list[str] = []
    if not cas:
        return problems, 0
    for i in range(len(path) - 1):
        cert = path[i]
        if i > 0 and cert.self_issued:
            continue
        names = names_of(cert)
        label = cert.subject.human_friendly or f"serial {cert.serial_number:x}"
        for j, nc in cas:
            if j <= i:
                continue
            ca_label = path[j].subject.human_friendly
            if nc.problem:
                problems.append(f"{ca_label}: {nc.problem}")
                continue
            for form, name in names:
                if form not in SUPPORTED:
                    if form in nc.permitted or form in nc.excluded:
                        problems.append(f"{label}: {ca_label} constrains {form} names, which this validator "
                                        "cannot process")
                    continue
                if any(within(form, name, base) for base in nc.excluded.get(form, ())):
                    problems.append(f"{label}: {form} {_show(form, name)} is in a subtree {ca_label} excludes "
                                    f"({nc.describe(form, False)})")
                permitted = nc.permitted.get(form)
                if permitted is not None and not any(within(form, name, base) for base in permitted):
                    problems.append(f"{label}: {form} {_show(form, name)} is outside the subtrees {ca_label} "
                                    f"permits ({nc.describe(form, True)})")
    return problems, len(cas)
