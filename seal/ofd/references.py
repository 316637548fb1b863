"""Checking OFD signature References (GB/T 33190 §18): CheckValue = hash of the file.

CheckMethod values seen in the wild: ``1.2.156.10197.1.401`` (plain SM3, the normal case),
the string ``SM3`` (ofdrw), and ``1.2.156.10197.1.401.2`` (SM3 over Z_A ‖ file, Z_A of the
signer's key — checked when the caller passes ``z_a``; a plain-SM3 match under that OID is
accepted with a quirk). Foreign digests named by a few producers are checked too: SHA-256
matches are OK with a note; MD5 and SHA-1 matches get WEAK_DIGEST (collisions are practical),
for the verifier's policy to judge. Each reference gets a status; nothing here raises.
"""
from __future__ import annotations

import hashlib
import hmac
from enum import Enum

from gm import sm3
from gm.oids import SM3, SM3_WITH_KEY
from gm.records import frozen_record
from seal.ofd.model import SignatureInfo
from seal.ofd.package import OFDPackage

_PLAIN_SM3 = {SM3, "SM3", "sm3", "1.2.156.10197.1.401.1", None, ""}
# CheckMethod spellings of non-ShangMi digests -> (hashlib name, weak)
_FOREIGN = {
    "MD5": ("md5", True), "1.2.840.113549.2.5": ("md5", True),
    "SHA1": ("sha1", True), "SHA-1": ("sha1", True), "1.3.14.3.2.26": ("sha1", True),
    "SHA256": ("sha256", False), "SHA-256": ("sha256", False), "2.16.840.1.101.3.4.2.1": ("sha256", False),
}


class RefStatus(str, Enum):
    OK = "ok"
    MISMATCH = "mismatch"
    MISSING = "missing"            # the referenced file is not in the package
    BAD_LOCATION = "bad_location"  # the FileRef is unsafe (traversal, backslash) or CheckValue not base64
    UNSUPPORTED = "unsupported"    # unknown CheckMethod, or 401.2 without the signer's Z_A
    WEAK_DIGEST = "weak_digest"    # matches, but with MD5 or SHA-1


@frozen_record
class ReferenceResult:
    file_ref: str
    path: str | None
    status: RefStatus
    expected: bytes | None
    actual: bytes | None
    note: str | None = None


# Results of references that match (as check_references builds them), by (FileRef, entry,
# digest): the references to files a producer repeats give the same result in every document.
_MATCHED: dict[tuple[str, str, bytes], ReferenceResult] = {}
_MATCHED_LIMIT = 8192


def is_plain_sm3(check_method: str | None) -> bool:
    return check_method in _PLAIN_SM3 or (check_method or "").strip().upper() == "SM3"


def check_references(pkg: OFDPackage, sig: SignatureInfo, *, z_a: bytes | None = None) -> list[ReferenceResult]:
    """One :class:`ReferenceResult` per Reference of ``sig``, in document order."""
    method = (sig.check_method or "").strip()
    results: list[ReferenceResult] = []
    # One digest per file, however often it is referenced: a hostile Signature.xml repeating a
    # large file's Reference must not cost a hash per repetition.
    digests: dict[tuple[str, bool], bytes] = {}
    plain_digests: dict[str, bytes] = {}    # the same for plain SM3, the usual case, looked up inline
    foreign: dict[tuple[str, str], bytes] = {}

    def digest(name: str, keyed: bool) -> bytes:
        key = (name, keyed)
        if key not in digests:
            digests[key] = sm3.sm3(z_a + pkg.read(name)) if keyed and z_a is not None else pkg.sm3(name)
        return digests[key]

    plain_sm3 = is_plain_sm3(method)
    for ref in sig.references:
        if ref.path is None or ref.check_value is None:
            note = "unsafe FileRef" if ref.path is None else "CheckValue is not base64"
            results.append(ReferenceResult(ref.file_ref, ref.path, RefStatus.BAD_LOCATION, ref.check_value, None, note))
            continue
        real = pkg.find(ref.path)
        if real is None:
            results.append(ReferenceResult(ref.file_ref, ref.path, RefStatus.MISSING, ref.check_value, None))
            continue
        note = None if real == ref.path else f"matched {real!r} ignoring letter case"
        if plain_sm3:
            actual = plain_digests.get(real)
            if actual is None:
                actual = plain_digests[real] = pkg.sm3(real)
        elif method == SM3_WITH_KEY:
            plain = digest(real, False)
            if z_a is not None:
                actual = digest(real, True)
                if not hmac.compare_digest(actual, ref.check_value) and hmac.compare_digest(plain, ref.check_value):
                    actual, note = plain, "plain SM3 under CheckMethod 1.2.156.10197.1.401.2"
            elif hmac.compare_digest(plain, ref.check_value):
                actual, note = plain, "plain SM3 under CheckMethod 1.2.156.10197.1.401.2"
            else:
                results.append(ReferenceResult(ref.file_ref, real, RefStatus.UNSUPPORTED, ref.check_value, None,
                                               "CheckMethod 1.2.156.10197.1.401.2 needs the signer's Z_A"))
                continue
        elif method.upper() in _FOREIGN:
            algorithm, weak = _FOREIGN[method.upper()]
            key = (real, algorithm)
            if key not in foreign:
                foreign[key] = hashlib.new(algorithm, pkg.read(real)).digest()
            actual = foreign[key]
            if hmac.compare_digest(actual, ref.check_value):
                status = RefStatus.WEAK_DIGEST if weak else RefStatus.OK
                results.append(ReferenceResult(ref.file_ref, real, status, ref.check_value, actual,
                                               f"CheckMethod {method} is not a ShangMi digest"))
            else:
                results.append(ReferenceResult(ref.file_ref, real, RefStatus.MISMATCH, ref.check_value, actual, note))
            continue
        else:
            results.append(ReferenceResult(ref.file_ref, real, RefStatus.UNSUPPORTED, ref.check_value, None,
                                           f"unknown CheckMethod {method!r}"))
            continue
        if not hmac.compare_digest(actual, ref.check_value):
            results.append(ReferenceResult(ref.file_ref, real, RefStatus.MISMATCH, ref.check_value, actual, note))
            continue
        if note is not None:
            results.append(ReferenceResult(ref.file_ref, real, RefStatus.OK, ref.check_value, actual, note))
            continue
        # A matching reference without a note is a pure function of these three values.
        key = (ref.file_ref, real, actual)
        result = _MATCHED.get(key)
        if result is None:
            result = ReferenceResult(ref.file_ref, real, RefStatus.OK, ref.check_value, actual, None)
            if len(ref.file_ref) + len(real) <= 512:
                if len(_MATCHED) >= _MATCHED_LIMIT:
                    _MATCHED.clear()
                _MATCHED[key] = result
        results.append(result)
    return results
