"""SM2 key containers: what OpenSSL 3 writes we read, what we write OpenSSL 3 reads.

Referee: the OpenSSL 3 CLI (genpkey, pkey, pkcs8, ec, kdf, enc). Bad keys: Tongsuo's
key-check vectors in ../shared/vectors/bad-keys/.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from asn1crypto import algos, core, keys
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gm import curve, keyformat, oids
from gm.errors import InvalidKeyError, InvalidPointError, KeyFormatError

pytestmark = pytest.mark.filterwarnings("error")


def run(openssl_bin: str, *args: str, data: bytes | None = None) -> bytes:
    result = subprocess.run([openssl_bin, *args], input=data, capture_output=True, check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


def openssl_key_numbers(openssl_bin: str, pem: bytes, *extra: str) -> tuple[bytes | None, bytes]:
    """(d as 32 bytes or None, public point) as printed by `openssl pkey -text`."""
    text = run(openssl_bin, "pkey", "-text", "-noout", *extra, data=pem).decode()

    def block(name: str) -> bytes | None:
        match = re.search(rf"^{name}:\s*\n((?:\s+[0-9a-f:]+\n)+)", text, re.MULTILINE)
        if match is None:
            return None
        return bytes.fromhex(re.sub(r"[\s:]", "", match.group(1)))

    priv = block("priv")
    d = None if priv is None else int.from_bytes(priv, "big").to_bytes(32, "big")
    pub = block("pub")
    assert pub is not None, text
    return d, pub


@pytest.fixture(scope="module")
def sm2_pem(openssl_bin, tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("keys") / "sm2.pem"
    run(openssl_bin, "genpkey", "-algorithm", "SM2", "-out", str(path))
    return path.read_bytes()


# --- reading what OpenSSL writes -------------------------------------------------------------

@pytest.mark.interop
def test_reads_openssl_genpkey_plain(openssl_bin, sm2_pem):
    d, point = keyformat.decode_private_key(sm2_pem)
    expected_d, expected_point = openssl_key_numbers(openssl_bin, sm2_pem)
    assert d == expected_d
    assert point == expected_point
    for der in (run(openssl_bin, "pkey", "-outform", "DER", data=sm2_pem),  # SEC1 in OpenSSL 3.0
                run(openssl_bin, "pkcs8", "-topk8", "-nocrypt", "-outform", "DER", data=sm2_pem)):
        assert keyformat.decode_private_key(der) == (d, point)


@pytest.mark.interop
def test_reads_openssl_genpkey_aes256(openssl_bin, tmp_path):
    path = tmp_path / "enc.pem"
    run(openssl_bin, "genpkey", "-algorithm", "SM2", "-aes256", "-pass", "pass:s3cret!", "-out", str(path))
    pem = path.read_bytes()
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    d, point = keyformat.decode_private_key(pem, b"s3cret!")
    assert (d, point) == openssl_key_numbers(openssl_bin, pem, "-passin", "pass:s3cret!")


@pytest.mark.interop
@pytest.mark.parametrize("cipher", ["sm4", "aes-128-cbc", "aes-192-cbc"])
@pytest.mark.parametrize("prf", ["hmacWithSHA1", "hmacWithSHA256", "hmacWithSHA512"])
def test_reads_openssl_pkcs8_v2(openssl_bin, sm2_pem, cipher, prf):
    pem = run(openssl_bin, "pkcs8", "-topk8", "-v2", cipher, "-v2prf", prf, "-passout", "pass:pw", data=sm2_pem)
    assert keyformat.decode_private_key(pem, b"pw") == keyformat.decode_private_key(sm2_pem)


@pytest.mark.interop
@pytest.mark.parametrize("outform", ["PEM", "DER"])
def test_reads_openssl_sec1(openssl_bin, sm2_pem, outform):
    sec1 = run(openssl_bin, "ec", "-outform", outform, data=sm2_pem)
    if outform == "PEM":
        assert sec1.startswith(b"-----BEGIN SM2 PRIVATE KEY-----")  # OpenSSL 3's label for SEC1 SM2 keys
    assert keyformat.decode_private_key(sec1) == keyformat.decode_private_key(sm2_pem)
    relabelled = sec1.replace(b"SM2 PRIVATE KEY", b"EC PRIVATE KEY")
    assert keyformat.decode_private_key(relabelled) == keyformat.decode_private_key(sm2_pem)


@pytest.mark.interop
@pytest.mark.parametrize("prf_oid", [oids.HMAC_SM3, oids.SM3_WITH_KEY])
def test_reads_pbes2_with_hmac_sm3_and_sm4_built_by_openssl_primitives(openssl_bin, sm2_pem, prf_oid):
    # OpenSSL 3.0 cannot write an hmacWithSM3 PRF, so build the container from its parts:
    # PBKDF2-HMAC-SM3 by `openssl kdf`, SM4-CBC by `openssl enc`, the DER by asn1crypto.
    plain = run(openssl_bin, "pkcs8", "-topk8", "-nocrypt", "-outform", "DER", data=sm2_pem)
    salt, iv, iterations = bytes(range(16)), bytes(range(16, 32)), 2048
    password = "pässword".encode()
    key = run(openssl_bin, "kdf", "-keylen", "16", "-kdfopt", "digest:SM3", "-kdfopt", f"hexpass:{password.hex()}",
              "-kdfopt", f"hexsalt:{salt.hex()}", "-kdfopt", f"iter:{iterations}", "-binary", "PBKDF2")
    encrypted = run(openssl_bin, "enc", "-sm4-cbc", "-K", key.hex(), "-iv", iv.hex(), data=plain)
    container = keys.EncryptedPrivateKeyInfo({
        "encryption_algorithm": {
            "algorithm": "pbes2",
            "parameters": algos.Pbes2Params({
                "key_derivation_func": {"algorithm": "pbkdf2", "parameters": {
                    "salt": algos.Pbkdf2Salt(name="specified", value=salt),
                    "iteration_count": iterations,
                    "prf": {"algorithm": prf_oid, "parameters": core.Null()},
                }},
                "encryption_scheme": {"algorithm": oids.SM4_CBC, "parameters": core.OctetString(iv)},
            }),
        },
        "encrypted_data": encrypted,
    }).dump()
    assert keyformat.decode_private_key(container, password) == keyformat.decode_private_key(sm2_pem)
    with pytest.raises(KeyFormatError, match="wrong password"):
        keyformat.decode_private_key(container, b"password")


@pytest.mark.interop
def test_reads_openssl_public_key(openssl_bin, sm2_pem):
    public_pem = run(openssl_bin, "pkey", "-pubout", data=sm2_pem)
    public_der = run(openssl_bin, "pkey", "-pubout", "-outform", "DER", data=sm2_pem)
    _, point = keyformat.decode_private_key(sm2_pem)
    assert keyformat.decode_public_key(public_pem) == point
    assert keyformat.decode_public_key(public_der) == point


# --- OpenSSL reading what we write -----------------------------------------------------------

@pytest.mark.interop
def test_openssl_reads_our_plain_key_byte_for_byte(openssl_bin, sm2_pem):
    d, point = keyformat.decode_private_key(sm2_pem)
    ours = keyformat.encode_private_key_pem(d, point)
    assert openssl_key_numbers(openssl_bin, ours) == (d, point)
    run(openssl_bin, "pkey", "-check", "-noout", data=ours)  # OpenSSL checks d*G == point
    # Same structure as `openssl genpkey` writes: identical bytes.
    assert ours == sm2_pem
    pkcs8_der = run(openssl_bin, "pkcs8", "-topk8", "-nocrypt", "-outform", "DER", data=sm2_pem)
    assert keyformat.encode_private_key_der(d, point) == pkcs8_der


@pytest.mark.interop
def test_openssl_reads_our_encrypted_key(openssl_bin, sm2_pem):
    d, point = keyformat.decode_private_key(sm2_pem)
    ours = keyformat.encode_private_key_pem(d, point, b"correct horse")
    assert ours.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert openssl_key_numbers(openssl_bin, ours, "-passin", "pass:correct horse") == (d, point)
    bad = subprocess.run([openssl_bin, "pkey", "-noout", "-passin", "pass:wrong"], input=ours,
                         capture_output=True, check=False)
    assert bad.returncode != 0

    # The parameters we promise: PBKDF2-HMAC-SHA256, 16-byte random salt, >= 100,000 iterations, AES-256-CBC.
    der = keyformat.encode_private_key_der(d, point, b"correct horse")
    info = keys.EncryptedPrivateKeyInfo.load(der)
    pbes2 = info["encryption_algorithm"]["parameters"]
    kdf_params = pbes2["key_derivation_func"]["parameters"]
    assert info["encryption_algorithm"]["algorithm"].native == "pbes2"
    assert kdf_params["prf"]["algorithm"].native == "sha256"
    assert kdf_params["iteration_count"].native >= 100_000
    assert len(kdf_params["salt"].chosen.native) == 16
    assert pbes2["encryption_scheme"]["algorithm"].native == "aes256_cbc"
    again = keys.EncryptedPrivateKeyInfo.load(keyformat.encode_private_key_der(d, point, b"correct horse"))
    assert again["encryption_algorithm"]["parameters"]["key_derivation_func"]["parameters"]["salt"].native \
        != kdf_params["salt"].native


@pytest.mark.interop
def test_openssl_reads_our_public_key(openssl_bin, sm2_pem):
    _, point = keyformat.decode_private_key(sm2_pem)
    ours = keyformat.encode_public_key_pem(point)
    assert ours.startswith(b"-----BEGIN PUBLIC KEY-----")
    _, printed = openssl_key_numbers(openssl_bin, ours, "-pubin")
    assert printed == point
    assert ours == run(openssl_bin, "pkey", "-pubout", data=sm2_pem)
    text = run(openssl_bin, "pkey", "-pubin", "-text", "-noout", data=ours).decode()
    assert "SM2" in text


# --- rejections ------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "message"), [
    ("sm2_bad_0.pem", "d is not below the group order n"),  # d = n
    ("sm2_bad_1.pem", "d is not below the group order n"),  # d = n + 1
    ("sm2_bad_neg1.pem", r"d = n - 1 is forbidden for SM2"),  # d = n - 1
])
def test_tongsuo_bad_keys_are_rejected(shared_vectors, name, message):
    data = (shared_vectors / "bad-keys" / name).read_bytes()
    with pytest.raises(InvalidKeyError, match=message):
        keyformat.decode_private_key(data)


@pytest.mark.interop
def test_p256_keys_are_rejected(openssl_bin, tmp_path):
    path = tmp_path / "p256.pem"
    run(openssl_bin, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path))
    pem = path.read_bytes()
    with pytest.raises(KeyFormatError, match=r"on secp256r1 \(1\.2\.840\.10045\.3\.1\.7\), not SM2"):
        keyformat.decode_private_key(pem)
    with pytest.raises(KeyFormatError, match="not SM2"):
        keyformat.decode_private_key(run(openssl_bin, "ec", data=pem))  # SEC1 form
    with pytest.raises(KeyFormatError, match="not SM2"):
        keyformat.decode_public_key(run(openssl_bin, "pkey", "-pubout", data=pem))


@pytest.mark.interop
def test_rsa_keys_are_rejected(openssl_bin, tmp_path):
    path = tmp_path / "rsa.pem"
    run(openssl_bin, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", str(path))
    pem = path.read_bytes()
    with pytest.raises(KeyFormatError, match=r"not an SM2 key: its algorithm is rsa \(1\.2\.840\.113549\.1\.1\.1\)"):
        keyformat.decode_private_key(pem)
    traditional = run(openssl_bin, "pkey", "-traditional", data=pem)
    with pytest.raises(KeyFormatError, match="RSA private key, not an SM2 key"):
        keyformat.decode_private_key(traditional)
    with pytest.raises(KeyFormatError, match="not an SM2 key: its algorithm is rsa"):
        keyformat.decode_public_key(run(openssl_bin, "pkey", "-pubout", data=pem))


@pytest.mark.interop
def test_password_mistakes(openssl_bin, sm2_pem):
    d, point = keyformat.decode_private_key(sm2_pem)
    encrypted = keyformat.encode_private_key_pem(d, point, b"right")
    with pytest.raises(KeyFormatError, match="wrong password"):
        keyformat.decode_private_key(encrypted, b"wrong")
    with pytest.raises(KeyFormatError, match="encrypted; a password is required"):
        keyformat.decode_private_key(encrypted)
    with pytest.raises(KeyFormatError, match="a password was given but the private key is not encrypted"):
        keyformat.decode_private_key(sm2_pem, b"right")
    openssl_encrypted = run(openssl_bin, "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-passout", "pass:right",
                            data=sm2_pem)
    with pytest.raises(KeyFormatError, match="wrong password"):
        keyformat.decode_private_key(openssl_encrypted, b"Right")


@pytest.mark.interop
def test_legacy_pem_encryption_is_refused_with_advice(openssl_bin, sm2_pem):
    legacy = run(openssl_bin, "ec", "-aes256", "-passout", "pass:x", data=sm2_pem)
    assert b"Proc-Type: 4,ENCRYPTED" in legacy
    with pytest.raises(KeyFormatError, match=r"Proc-Type.*openssl pkcs8 -topk8"):
        keyformat.decode_private_key(legacy, b"x")


@pytest.mark.interop
def test_truncated_and_trailing_data(openssl_bin, sm2_pem):
    der = run(openssl_bin, "pkey", "-outform", "DER", data=sm2_pem)
    with pytest.raises(KeyFormatError, match="not valid DER"):
        keyformat.decode_private_key(der[:-5])
    with pytest.raises(KeyFormatError, match="not valid DER"):
        keyformat.decode_private_key(der + b"\x00garbage")
    with pytest.raises(KeyFormatError, match="no matching -----END line"):
        keyformat.decode_private_key(sm2_pem[: len(sm2_pem) // 2])
    lines = sm2_pem.splitlines(keepends=True)
    with pytest.raises(KeyFormatError, match="not valid DER"):
        keyformat.decode_private_key(lines[0] + lines[1] + lines[-1])  # one base64 line of three
    with pytest.raises(KeyFormatError, match="2 PEM blocks found"):
        keyformat.decode_private_key(sm2_pem + sm2_pem)
    with pytest.raises(KeyFormatError, match="not valid base64"):
        keyformat.decode_private_key(sm2_pem.replace(b"M", b"*", 1))
    with pytest.raises(KeyFormatError, match="empty input"):
        keyformat.decode_private_key(b"  \n")
    # Explanatory text around the block is fine (openssl pkey -text prints it after the PEM).
    assert keyformat.decode_private_key(b"my key\n" + sm2_pem + b"Private-Key: (256 bit)\n") == \
        keyformat.decode_private_key(sm2_pem)


def test_wrong_pem_labels(shared_vectors):
    certificate = (shared_vectors / "certs" / "ROOTCA.pem").read_bytes()
    with pytest.raises(KeyFormatError, match="the PEM block is 'CERTIFICATE'; expected PRIVATE KEY"):
        keyformat.decode_private_key(certificate)
    with pytest.raises(KeyFormatError, match="the PEM block is 'CERTIFICATE'; expected PUBLIC KEY"):
        keyformat.decode_public_key(certificate)


def test_public_key_with_a_point_off_the_curve_is_rejected():
    x, y = curve.GX, curve.GY
    good = keyformat.encode_public_key_der(curve.G_BYTES)
    off_curve = good[:-1] + bytes([good[-1] ^ 1])
    with pytest.raises(InvalidPointError, match="not on the SM2 curve"):
        keyformat.decode_public_key(off_curve)
    assert keyformat.decode_public_key(good) == b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")


def test_encoder_argument_checks():
    with pytest.raises(InvalidKeyError, match="must be 32 bytes, got 31"):
        keyformat.encode_private_key_der(b"\x01" * 31, None)
    with pytest.raises(InvalidKeyError, match="d is zero"):
        keyformat.encode_private_key_der(bytes(32), None)
    with pytest.raises(InvalidKeyError, match="d = n - 1"):
        keyformat.encode_private_key_der((curve.N - 1).to_bytes(32, "big"), None)
    with pytest.raises(InvalidPointError, match="must be 65 bytes, got 64"):
        keyformat.encode_private_key_der(b"\x01" * 32, curve.G_BYTES[:-1])
    with pytest.raises(InvalidPointError, match="point at infinity"):
        keyformat.encode_public_key_der(b"\x00")
    with pytest.raises(TypeError, match="password must be bytes, not str"):
        keyformat.encode_private_key_der(b"\x01" * 32, None, "text password")


# --- round trips -----------------------------------------------------------------------------

def _point_for(x: int) -> bytes | None:
    try:
        _, y = curve.check_point(b"\x02" + x.to_bytes(32, "big"))
    except InvalidPointError:
        return None
    return b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")


_scalars = st.integers(min_value=1, max_value=curve.N - 2)


@settings(max_examples=60, deadline=None)
@given(d=_scalars, x=st.integers(min_value=0, max_value=curve.P - 1), with_point=st.booleans(),
       pem=st.booleans())
def test_round_trip_plain(d, x, with_point, pem):
    point = _point_for(x) if with_point else None
    assume(point is not None or not with_point)
    d_bytes = d.to_bytes(32, "big")
    encode = keyformat.encode_private_key_pem if pem else keyformat.encode_private_key_der
    assert keyformat.decode_private_key(encode(d_bytes, point)) == (d_bytes, point)
    if point is not None:
        public = (keyformat.encode_public_key_pem if pem else keyformat.encode_public_key_der)(point)
        assert keyformat.decode_public_key(public) == point


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(d=_scalars, password=st.binary(min_size=1, max_size=40))
def test_round_trip_encrypted(d, password):
    d_bytes = d.to_bytes(32, "big")
    encoded = keyformat.encode_private_key_der(d_bytes, curve.G_BYTES, password)
    assert keyformat.decode_private_key(encoded, password) == (d_bytes, curve.G_BYTES)


def test_extreme_scalars_round_trip():
    for d in (1, 2, curve.N - 2):
        d_bytes = d.to_bytes(32, "big")
        assert keyformat.decode_private_key(keyformat.encode_private_key_der(d_bytes, None)) == (d_bytes, None)


def test_module_file_is_small():
    # One job per module: keep the key containers readable in one sitting.
    assert len(Path(keyformat.__file__).read_text().splitlines()) < 450
