"""seal/tsa.py reading responses made by OpenSSL's own TSA (`openssl ts -reply`).

OpenSSL 3.0 cannot sign a timestamp with an SM2 key (PKCS7_SIGNER_INFO_set: "signing not
supported for this key type") and answers its client with a rejection; with an ECDSA P-256
key it grants a token. Both responses are foreign bytes: parse_response reads the
rejection (which asn1crypto's own TimeStampResp cannot), and verify_token reads every
TSTInfo field of the ECDSA token as OpenSSL prints it and refuses the token as not SM2.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import subprocess
from pathlib import Path

import pytest

from seal import cms as scms
from seal import tsa

DATA = b"stamped by OpenSSL's TSA\n"
DISTID = "distid:1234567812345678"
CONFIG = """
[ req ]
distinguished_name = dn
[ dn ]
[ ext ]
extendedKeyUsage = critical,timeStamping
basicConstraints = CA:FALSE
[ t ]
serial = {dir}/serial
signer_digest = {digest}
default_policy = 1.2.3.4.1
digests = sm3, sha256
accuracy = secs:1
ess_cert_id_alg = sha256
"""


def run(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)


def openssl_tsa(openssl_bin: str, d: Path, key_args: list[str], digest: str, sig_args: list[str]) -> tuple[Path, int]:
    """An OpenSSL TSA with a fresh key answering an `openssl ts -query`; (reply, nonce)."""
    (d / "tsa.cnf").write_text(CONFIG.format(dir=d, digest=digest))
    (d / "serial").write_text("2A\n")
    run([openssl_bin, "genpkey", *key_args, "-out", d / "key.pem"], check=True)
    run([openssl_bin, "req", "-new", "-x509", "-key", d / "key.pem", *sig_args, "-subj", "/CN=openssl tsa",
         "-days", "2", "-config", d / "tsa.cnf", "-extensions", "ext", "-out", d / "cert.pem"], check=True)
    (d / "data").write_bytes(DATA)
    run([openssl_bin, "ts", "-query", "-data", d / "data", "-sha256", "-cert", "-out", d / "q.tsq"], check=True)
    qtext = run([openssl_bin, "ts", "-query", "-in", d / "q.tsq", "-text"]).stdout
    nonce = int(re.search(r"Nonce: 0x([0-9A-F]+)", qtext).group(1), 16)
    run([openssl_bin, "ts", "-reply", "-config", d / "tsa.cnf", "-section", "t", "-queryfile", d / "q.tsq",
         "-inkey", d / "key.pem", "-signer", d / "cert.pem", "-out", d / "r.tsr"])
    return d / "r.tsr", nonce


def test_openssl_ecdsa_token_fields_read_and_refused_as_not_sm2(tmp_path, openssl_bin):
    reply, nonce = openssl_tsa(openssl_bin, tmp_path, ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
                               "sha256", ["-sha256"])
    resp = tsa.parse_response(reply.read_bytes())
    assert resp.status == "granted" and resp.token is not None
    check = tsa.verify_token(reply.read_bytes(), DATA, nonce=nonce)
    assert not check.ok and check.failure == scms.Failure.UNSUPPORTED_SIGNATURE
    text = run([openssl_bin, "ts", "-reply", "-in", reply, "-text"]).stdout
    assert check.serial == int(re.search(r"Serial number: 0x([0-9A-F]+)", text).group(1), 16) == 0x2B  # OpenSSL uses the serial file's value + 1
    assert check.nonce == nonce
    assert check.policy == "1.2.3.4.1"
    assert check.hash_algorithm == "sha256" and check.message_imprint == hashlib.sha256(DATA).digest()
    assert check.accuracy.total_seconds() == 1
    printed = re.search(r"Time stamp: (\w+ +\d+ [\d:]+ \d+) GMT", text).group(1)
    when = dt.datetime.strptime(" ".join(printed.split()), "%b %d %H:%M:%S %Y").replace(tzinfo=dt.timezone.utc)
    assert check.gen_time == when


def test_openssl_sm2_tsa_rejection_is_parsed(tmp_path, openssl_bin):
    reply, _ = openssl_tsa(openssl_bin, tmp_path, ["-algorithm", "SM2"], "sm3", ["-sm3", "-sigopt", DISTID])
    text = run([openssl_bin, "ts", "-reply", "-in", reply, "-text"]).stdout
    resp = tsa.parse_response(reply.read_bytes())
    if "Status: Granted." in text:  # a later OpenSSL that signs with SM2: then it must verify
        check = tsa.verify_token(reply.read_bytes(), DATA)
        if not check.ok:  # such an OpenSSL would likely still use the empty signer ID
            pytest.fail(f"OpenSSL-made SM2 token does not verify: {check.failure} {check.detail}")
        return
    assert "Status: Rejected." in text
    assert resp.status == "rejection" and resp.token is None
    assert resp.text == "Error during signature generation."
    check = tsa.verify_token(reply.read_bytes(), DATA)
    assert check.failure == tsa.TokenFailure.NOT_GRANTED and "signature generation" in check.detail
