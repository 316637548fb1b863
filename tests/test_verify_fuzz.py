"""Damaged input never escapes the engine as anything but a report or an InputError:
bytes of real vectors (seal signature, CMS, certificate, seal) and entries of a real OFD
changed at random (fixed seeds), each verified."""
from __future__ import annotations

import io
import random
import zipfile

import pytest

from verify.engine import Verifier
from verify.errors import InputError
from verify.path import StaticTrust
from verify.report import Report
from verify.revocation import RevocationChecker

SEEDS = ("seals/SignedValueV4.dat", "cms/cfca_sadk_signedData_detached_HelloSecretWorld.p7.der",
         "certs/SHECA_SM2_by_ROOTCA.pem", "seals/UserV1.esl")


def outcome(verifier: Verifier, data: bytes) -> str:
    try:
        report = verifier.verify_bytes(data, detached=b"Hello Secret World!")
    except InputError:
        return "input-error"
    assert isinstance(report, Report)
    return report.indication.value


@pytest.mark.parametrize("name", SEEDS)
def test_damaged_vectors(shared_vectors, name) -> None:
    verifier = Verifier(StaticTrust(), RevocationChecker(online=False))
    original = (shared_vectors / name).read_bytes()
    rnd = random.Random(name)
    seen = set()
    for _ in range(150):
        data = bytearray(original)
        for _ in range(rnd.randint(1, 4)):
            data[rnd.randrange(len(data))] = rnd.randrange(256)
        seen.add(outcome(verifier, bytes(data)))
    # nothing but a report or an InputError (no trust is configured, so nothing passes)
    assert seen <= {"input-error", "FAILED", "INDETERMINATE"}


def test_damaged_ofd_entries(shared_vectors) -> None:
    """The ofdrw-made invoice with its own signer and seal-maker certificates as anchors (and
    its long-expired validity tolerated) PASSES; one byte changed in any file the signature
    protects (the References, Signature.xml through dataHash, SignedValue.dat) never does."""
    from seal.ofd.signing import verify_package
    from seal.structures import parse_signature
    from verify.path import load_certificate
    from verify.report import Policy, Severity

    ofd = (shared_vectors / "ofd" / "v4signed.ofd").read_bytes()
    sig = parse_signature(verify_package(ofd)[0].signed_value)
    anchors = [load_certificate(sig.signer_cert), load_certificate(sig.seal.maker_cert)]
    tolerant = Policy("vector", Severity.ERROR, {"X509_VALIDITY": Severity.WARNING, "SEAL_VALIDITY": Severity.WARNING})
    verifier = Verifier(StaticTrust(anchors), RevocationChecker(online=False, policy=tolerant), tolerant)
    assert outcome(verifier, ofd) == "PASSED"
    src = zipfile.ZipFile(io.BytesIO(ofd))
    names = [n for n in src.namelist() if n not in ("OFD.xml", "Doc_0/Signs/Signatures.xml")]
    rnd = random.Random(7)
    for _ in range(60):
        target = rnd.choice(names)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as dst:
            for n in src.namelist():
                data = bytearray(src.read(n))
                if n == target:
                    data[rnd.randrange(len(data))] ^= 1 + rnd.randrange(255)
                dst.writestr(n, bytes(data))
        result = outcome(verifier, out.getvalue())
        assert result in {"input-error", "FAILED", "INDETERMINATE"}, target
