"""What a certificate says besides its key, declared once for every issuance path.

``issue_certificate``, ``issue_for_key``, ``issue_for_public_key`` (ca/service.py),
``issue_with_generated_key``, ``issue_dual`` (ca/keygen.py) and ``submit_application``
(ca/workflow.py) all take the request keywords ``profile``, ``subject``, ``id_number``,
``credit_code``, ``san`` and ``days``. They are written once, as :class:`RequestFields`
(``**request: Unpack[RequestFields]``: callers pass the same keywords as ever), and travel
inside as one :class:`CertificateRequest`, which also makes the certificate builder, so a
workflow application is checked at submission by exactly the code that issues it.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Required, TypedDict

from asn1crypto import x509

from ca.certificate import CertificateBuilder
from ca.errors import CAError
from ca.profiles import CAConfig, Identity
from gm.records import frozen_record

__all__ = ["RequestFields", "CertificateRequest"]


class RequestFields(TypedDict, total=False):
    """The request keywords of every issue_* function."""

    profile: Required[str]
    subject: Any             # "C=CN,O=...,CN=...", parsed attributes or an x509.Name; None: the CSR's
    id_number: str | None    # citizen ID (GM/T 0015 identity extension, check character verified)
    credit_code: str | None  # unified social credit code or organization code
    san: Any                 # [("dns" | "ip" | "email", value), ...]; tls_server needs one
    days: int | None         # validity; None: the profile's default


@frozen_record
class CertificateRequest:
    profile: str
    subject: Any = None
    id_number: str | None = None
    credit_code: str | None = None
    san: Any = None
    days: int | None = None
    identity: Identity | None = None  # renewals carry the old certificate's identity as a whole

    @classmethod
    def of(cls, fields: Mapping[str, Any], **more: Any) -> CertificateRequest:
        """From the keywords a caller gave (TypeError for one that is not a request field)."""
        return cls(**fields, **more)

    def or_subject(self, subject: Any) -> CertificateRequest:
        """This request, with ``subject`` when it names none (a CSR's subject)."""
        return self if self.subject else dataclasses.replace(self, subject=subject)

    def builder(self, issuer: x509.Certificate, config: CAConfig, public_key: Any) -> CertificateBuilder:
        """The end-entity builder for ``issuer`` (everything but the serial number)."""
        builder = CertificateBuilder(self.profile, config)
        if builder.profile.is_ca or builder.profile.self_signed:
            raise CAError(f"profile {self.profile} is for CA certificates; `eseal init` creates the region's CAs")
        if not self.subject:
            raise CAError("a certificate needs a subject (\"C=CN,O=...,CN=...\" or the CSR's)")
        builder = builder.subject(self.subject).public_key(public_key).issuer(issuer)
        values = {}
        if self.id_number is not None:
            values["citizen_id"] = self.id_number
        if self.credit_code is not None:
            values["organization_code"] = self.credit_code
        if self.identity is not None and values:
            raise CAError("give an Identity or id_number / credit_code, not both")
        identity = Identity(**values) if values else self.identity
        if identity is not None and identity.keys():
            builder = builder.identity(identity)
        if self.san or builder.profile.san_required:
            builder = builder.subject_alt_names(list(self.san or ()))
        if self.days is not None:
            builder = builder.validity(days=self.days)
        return builder
