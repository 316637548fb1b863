"""Whether a CRL answers for a certificate: its Issuing Distribution Point (RFC 5280 §5.2.5)
against the certificate's CRL distribution points, as RFC 5280 §6.3.3 (b)(2) and (c) say.

A CA may partition its CRLs, each naming its own distribution point in the IDP. A CRL of
partition A lists nothing of partition B, so served (by a server or a cache) for a B
certificate it would make a revoked certificate look good: a CRL whose IDP names a
distribution point is used only for a certificate that names that point (by a URI, a
directory name, or a name relative to the CRL issuer). The onlyContains* flags keep a CRL
of CA certificates off end-entity certificates and the other way round. Indirect CRLs and
CRLs partitioned by reason (onlySomeReasons) are not supported: refused with that reason,
never read as complete. A delta CRL completes only a full CRL of the same scope (§6.3.3 (c)).
"""
from __future__ import annotations

from typing import Any

from asn1crypto import core, x509

from gm.records import frozen_record

__all__ = ["CRLScope", "WHOLE", "scope_of", "refusal", "delta_fits"]


@frozen_record
class CRLScope:
    """A CRL's IDP reduced to what the rules read (``WHOLE``: the CRL has no IDP)."""

    names: frozenset[Any] | None      # normalised distributionPoint names; None: names no point
    labels: tuple[str, ...]           # the same names for people
    only_user: bool
    only_ca: bool
    only_attribute: bool
    some_reasons: bool
    indirect: bool
    der: bytes                        # the IDP as encoded (b"": none): a delta's must be its base's


WHOLE = CRLScope(None, (), False, False, False, False, False, b"")


def scope_of(idp: Any, crl_issuer: x509.Name) -> CRLScope:
    """The scope of a CRL from its IssuingDistributionPoint value (None: no IDP)."""
    if idp is None:
        return WHOLE
    names = labels = None
    point = idp["distribution_point"]
    if not isinstance(point, core.Void):
        pairs = _point_names(point, crl_issuer)
        names, labels = frozenset(k for k, _ in pairs), tuple(label for _, label in pairs)
    return CRLScope(names, labels or (), bool(idp["only_contains_user_certs"].native),
                    bool(idp["only_contains_ca_certs"].native),
                    bool(idp["only_contains_attribute_certs"].native),
                    idp["only_some_reasons"].native is not None, bool(idp["indirect_crl"].native), idp.dump())


def refusal(scope: CRLScope, cert: x509.Certificate, is_ca: bool | None) -> str | None:
    """Why a CRL of this scope cannot answer for ``cert`` (issued by the CRL's issuer), or None."""
    if scope is WHOLE:
        return None
    if scope.indirect:
        return "is an indirect CRL (entries for other issuers), which is not supported"
    if scope.some_reasons:
        return ("covers only some revocation reasons (onlySomeReasons), which is not supported: "
                "it is not read as a complete CRL")
    if scope.only_attribute:
        return "covers only attribute certificates"
    if scope.only_user and is_ca:
        return "covers only end-entity certificates, and this is a CA certificate"
    if scope.only_ca and not is_ca:
        return "covers only CA certificates, and this is an end-entity certificate"
    if scope.names is None:
        return None
    try:
        ours = _certificate_points(cert)
    except (ValueError, TypeError, KeyError, IndexError) as exc:    # asn1crypto parses lazily
        return f"cannot be matched: the certificate's CRL distribution points are unreadable ({exc})"
    if not ours:
        return (f"covers only the distribution point {', '.join(scope.labels)}, and the certificate "
                "names no distribution point")
    if scope.names.isdisjoint(k for k, _ in ours):
        return (f"covers the distribution point {', '.join(scope.labels)}, not the certificate's "
                f"({', '.join(label for _, label in ours)})")
    return None


def delta_fits(delta: CRLScope, full: CRLScope) -> bool:
    """A delta CRL completes a full CRL only with the same IDP, or both without one."""
    return delta.der == full.der


def _certificate_points(cert: x509.Certificate) -> list[tuple[Any, str]]:
    """The names of the certificate's distribution points served by its issuer itself (a
    point with a cRLIssuer is another issuer's, an indirect CRL's, so none of these)."""
    found: list[tuple[Any, str]] = []
    for dp in cert.crl_distribution_points_value or ():
        point = dp["distribution_point"]
        if dp["crl_issuer"].native is not None or isinstance(point, core.Void):
            continue
        found.extend(_point_names(point, cert.issuer))
    return found


def _point_names(point: x509.DistributionPointName, crl_issuer: x509.Name) -> list[tuple[Any, str]]:
    """(comparison key, label) of each name of a DistributionPointName; a name relative to
    the CRL issuer is the issuer's name with that RDN added (RFC 5280 §4.2.1.13)."""
    if point.name == "name_relative_to_crl_issuer":
        full = x509.Name.load(x509.RDNSequence(list(crl_issuer.chosen) + [point.chosen]).dump())
        return [(("dn", full.hashable), full.human_friendly)]
    return [(_name_key(g), _name_label(g)) for g in point.chosen]


def _name_key(name: x509.GeneralName) -> Any:
    if name.name == "uniform_resource_identifier":
        return ("uri", _uri_key(name.native))
    if name.name == "directory_name":
        return ("dn", name.chosen.hashable)
    return (name.name, name.chosen.dump())


def _uri_key(uri: str) -> str:
    """Scheme and host compared without regard to case, the rest as it is (RFC 5280 §7.4)."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return uri
    authority, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{authority.lower()}{slash}{path}"


def _name_label(name: x509.GeneralName) -> str:
    if name.name == "directory_name":
        return name.chosen.human_friendly
    try:
        return str(name.native)
    except (ValueError, TypeError):
        return name.name
