"""SM2 core: published known answers, round trips and bad input (GB/T 32918, GM/T 0003.5)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gm import _sm2, sm2
from gm.asn1.sm2 import SM2Cipher
from gm.curve import N, P
from gm.errors import DecryptionError, GMError, InvalidKeyError, InvalidPointError, KeyFormatError, SignatureEncodingError

# GM/T 0003.5-2012 / GB/T 32918.5 Annex A, recommended curve, default ID (STANDARD-VECTORS.md 4.2)
KAT_D = bytes.fromhex("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8")
KAT_X = "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
KAT_Y = "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
KAT_Z = "B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3"
KAT_E = "F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640"
KAT_K = bytes.fromhex("59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21")
KAT_R = 0xF5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3
KAT_S = 0xB1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA
KAT_M = b"message digest"


@pytest.fixture(scope="module")
def kat_key() -> sm2.PrivateKey:
    return sm2.PrivateKey.from_bytes(KAT_D)


def test_published_public_key_z_and_e(kat_key):
    assert kat_key.public_key.to_bytes().hex().upper() == "04" + KAT_X + KAT_Y
    assert kat_key.public_key.z().hex().upper() == KAT_Z
    assert kat_key.public_key.digest(KAT_M).hex().upper() == KAT_E


def test_published_signature_verifies(kat_key):
    signature = sm2.signature_from_rs(KAT_R, KAT_S)
    assert kat_key.public_key.verify(signature, KAT_M)
    assert not kat_key.public_key.verify(signature, b"message digesT")
    assert not kat_key.public_key.verify(signature, KAT_M, uid=b"1234567812345679")
    assert not kat_key.public_key.verify(sm2.signature_from_rs(KAT_R, KAT_S ^ 1), KAT_M)


def test_published_nonce_reproduces_r_and_s(kat_key):
    from gm import _sm2_kat  # test-only build of the core with the nonce hook compiled in

    e = kat_key.public_key.digest(KAT_M)
    signature = _sm2_kat.sign_digest_with_nonce(kat_key._d, kat_key._blob, e, KAT_K)
    assert sm2.signature_to_rs(signature) == (KAT_R, KAT_S)


def test_nonce_hook_is_not_reachable_from_the_product_module():
    assert not hasattr(_sm2, "sign_digest_with_nonce")
    assert "nonce" not in sm2.PrivateKey.sign.__code__.co_varnames
    assert "nonce" not in sm2.PrivateKey.sign_digest.__code__.co_varnames


def test_signatures_are_randomised(kat_key):
    assert kat_key.sign(KAT_M) != kat_key.sign(KAT_M)


# Tongsuo evppkey_sm2.txt, key SM2_key1: verification over a caller-supplied e (STANDARD-VECTORS.md 4.3)
TONGSUO_D = bytes.fromhex("D09156733017BDAD809FD9BBD8C693F60230593169B6F94AAF1C8EE138CC99B5")
TONGSUO_PUB = bytes.fromhex(
    "04393A2AD9E27E43ACAAAB85A19D3B85591E14406157175ADDD37BF77FF0CAF9ED"
    "37FCF3A8B4F55C038523261FCA6636AFE6A7AFA2A1482A606F5CB3A18B2E2A1E"
)


@pytest.mark.parametrize(
    "e, signature",
    [
        (
            "D7AD397F6FFA5D4F7F11E7217F241607DC30618C236D2C09C1B9EA8FDADEE2E8",
            "3046022100AB1DB64DE7C40EDBDE6651C9B8EBDB804673DB836E5D5C7FE15DCF9ED2725037022100EBA714451FF69B0BB930B379E192E7CD5FA6E3C41C7FBD8303B799AB54A54621",
        ),
        (
            "B1139602C6ECC9E15E2F3F9C635A1AFE737058BC15387479C1EA0D0B3D90E9E5",
            "3045022100E6E0414EBD3A656C35602AF14AB20287DBF30D57AF75C49A188ED4B42391F22402202F54F277C606F4605E1CE9514947FFDDF94C67A539804A4ED17F852288BDBE2E",
        ),
    ],
)
def test_tongsuo_prehashed_vectors(e, signature):
    key = sm2.PrivateKey.from_bytes(TONGSUO_D)
    assert key.public_key.to_bytes() == TONGSUO_PUB
    pub = sm2.PublicKey.from_bytes(TONGSUO_PUB)
    assert pub.verify_digest(bytes.fromhex(signature), bytes.fromhex(e))
    flipped = bytearray(bytes.fromhex(e))
    flipped[0] ^= 1
    assert not pub.verify_digest(bytes.fromhex(signature), bytes(flipped))


def _cipher(x: str, y: str, c3: str, c2: str) -> bytes:
    return SM2Cipher(
        {"x_coordinate": int(x, 16), "y_coordinate": int(y, 16), "hash": bytes.fromhex(c3), "cipher_text": bytes.fromhex(c2)}
    ).dump()


def test_published_encryption_example_decrypts():
    # GM/T 0003.5 / GB/T 32918.5 Annex C (STANDARD-VECTORS.md 5.2)
    key = sm2.PrivateKey.from_bytes(KAT_D)
    ciphertext = _cipher(
        "04EBFC718E8D1798620432268E77FEB6415E2EDE0E073C0F4F640ECD2E149A73",
        "E858F9D81E5430A57B36DAAB8F950A3C64E6EE6A63094D99283AFF767E124DF0",
        "59983C18F809E262923C53AEC295D30383B54E39D609D160AFCB1908D0BD8766",
        "21886CA989CA9C7D58087307CA93092D651EFA",
    )
    assert key.decrypt(ciphertext) == b"encryption standard"


@pytest.mark.parametrize(
    "ciphertext, plaintext",
    [
        (
            "30818A0220466BE2EF5C11782EC77864A0055417F407A5AFC11D653C6BCE69E417BB1D05B6022062B572E21FF0DDF5C726BD3F9FF2EAE56E6294713A607E9B9525628965F62CC804203C1B5713B5DB2728EB7BF775E44F4689FC32668BDC564F52EA45B09E8DF2A5F40422084A9D0CC2997092B7D3C404FCE95956EB604D732B2307A8E5B8900ED6608CA5B197",
            b"The floofy bunnies hop at midnight",
        ),
        (
            "3072022070DAD60CDA7C30D64CF4F278A849003581223F5324BFEC9BB329229BFFAD21A6021F18AFAB2B35459D2643243B242BE4EA80C6FA5071D2D847340CC57EB9309E5D04200B772E4DB664B2601E3B85E39C4AA8C2C1910308BE13B331E009C5A9258C29FD040B6D588BE9260A94DA18E0E6",
            b"Hello World",
        ),
    ],
)
def test_tongsuo_decrypt_vectors(ciphertext, plaintext):
    assert sm2.PrivateKey.from_bytes(TONGSUO_D).decrypt(bytes.fromhex(ciphertext)) == plaintext


@settings(max_examples=60, deadline=None)
@given(message=st.binary(max_size=2048), uid=st.binary(max_size=64), other=st.binary(min_size=1, max_size=8))
def test_sign_verify_round_trip(message, uid, other):
    key = sm2.PrivateKey.generate()
    signature = key.sign(message, uid=uid)
    assert key.public_key.verify(signature, message, uid=uid)
    assert not key.public_key.verify(signature, message + other, uid=uid)
    assert not sm2.PrivateKey.generate().public_key.verify(signature, message, uid=uid)


@settings(max_examples=40, deadline=None)
@given(message=st.binary(min_size=1, max_size=1024))
def test_encrypt_decrypt_round_trip(message):
    key = sm2.PrivateKey.generate()
    ciphertext = key.public_key.encrypt(message)
    assert key.decrypt(ciphertext) == message
    with pytest.raises(DecryptionError):
        sm2.PrivateKey.generate().decrypt(ciphertext)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(min_value=1, max_value=N - 2))
def test_key_bytes_and_point_encodings_round_trip(seed):
    key = sm2.PrivateKey.from_bytes(seed.to_bytes(32, "big"))
    assert sm2.PrivateKey.from_bytes(key.to_bytes()).public_key == key.public_key
    compressed = key.public_key.to_bytes(compressed=True)
    assert len(compressed) == 33
    assert sm2.PublicKey.from_bytes(compressed) == key.public_key
    assert sm2.PublicKey.from_pem(key.public_key.to_pem()) == key.public_key
    assert sm2.PrivateKey.from_pem(key.to_pem()).to_bytes() == key.to_bytes()


def test_encrypted_pem_round_trip_and_wrong_password():
    key = sm2.PrivateKey.generate()
    pem = key.to_pem(password=b"correct horse")
    assert b"ENCRYPTED PRIVATE KEY" in pem
    assert sm2.PrivateKey.from_pem(pem, password=b"correct horse").to_bytes() == key.to_bytes()
    with pytest.raises(KeyFormatError):
        sm2.PrivateKey.from_pem(pem, password=b"wrong")
    assert sm2.PrivateKey.from_der(key.to_der()).to_bytes() == key.to_bytes()


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "value, message",
    [
        (b"", "32 bytes, not 0"),
        (b"\x01" * 31, "32 bytes, not 31"),
        (bytes(32), r"outside \[1, n-2\]"),
        ((N - 1).to_bytes(32, "big"), r"outside \[1, n-2\]"),
        (N.to_bytes(32, "big"), r"outside \[1, n-2\]"),
        (b"\xff" * 32, r"outside \[1, n-2\]"),
    ],
)
def test_bad_private_keys(value, message):
    with pytest.raises(InvalidKeyError, match=message):
        sm2.PrivateKey.from_bytes(value)


def test_private_key_must_be_bytes():
    with pytest.raises(TypeError, match="private key must be bytes"):
        sm2.PrivateKey.from_bytes("00" * 32)


G = bytes.fromhex(
    "0432C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7"
    "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0"
)


@pytest.mark.parametrize(
    "value, message",
    [
        (G[:-1] + bytes([G[-1] ^ 1]), "not on the SM2 curve"),
        (b"\x05" + G[1:], "must start with 0x04"),
        (b"\x00", "point at infinity"),
        (G[:40], "65 bytes .* or 33 bytes .*not 40"),
        (b"\x04" + P.to_bytes(32, "big") + G[33:], "not below the field prime"),
        (b"\x01" + G[1:33], "must start with 0x02 or 0x03"),
        (b"\x02" + bytes(31) + b"\x05", "no point on the SM2 curve"),
    ],
)
def test_bad_public_points(value, message):
    with pytest.raises(InvalidPointError, match=message):
        sm2.PublicKey.from_bytes(value)


def _der(r: bytes, s: bytes) -> bytes:
    body = b"\x02" + bytes([len(r)]) + r + b"\x02" + bytes([len(s)]) + s
    return b"\x30" + bytes([len(body)]) + body


@pytest.mark.parametrize(
    "signature, message",
    [
        (b"", "DER SEQUENCE"),
        (b"\x31\x06\x02\x01\x01\x02\x01\x01", "DER SEQUENCE"),
        (_der(b"\x01", b"\x01") + b"\x00", "trailing bytes"),
        (_der(b"\x01", b"\x01")[:-1], "truncated"),
        (_der(b"\x00", b"\x01"), r"r is outside \[1, n-1\]"),
        (_der(b"\x01", b"\x00" + N.to_bytes(32, "big")), r"s is outside \[1, n-1\]"),
        (_der(b"\x81", b"\x01"), "r is negative"),
        (_der(b"\x00\x01", b"\x01"), "not minimally encoded"),
        (_der(b"\x01" * 34, b"\x01"), "longer than 256 bits"),
        (b"\x30\x81\x06\x02\x01\x01\x02\x01\x01", "long-form length"),
        (b"\x30\x06\x04\x01\x01\x02\x01\x01", "expected a DER INTEGER"),
        (bytes(64), "DER SEQUENCE"),
    ],
)
def test_malformed_signatures_raise(kat_key, signature, message):
    with pytest.raises(SignatureEncodingError, match=message):
        kat_key.public_key.verify(signature, KAT_M)


def test_digest_and_uid_lengths_are_checked(kat_key):
    with pytest.raises(GMError, match="32 bytes, not 31"):
        kat_key.sign_digest(bytes(31))
    with pytest.raises(GMError, match="32 bytes, not 33"):
        kat_key.public_key.verify_digest(kat_key.sign(b"x"), bytes(33))
    with pytest.raises(GMError, match="at most 8191 fit in ENTL"):
        kat_key.sign(b"x", uid=b"a" * 8192)
    with pytest.raises(GMError, match="empty message"):
        kat_key.public_key.encrypt(b"")


def test_bad_ciphertexts(kat_key):
    good = kat_key.public_key.encrypt(b"secret")
    parsed = SM2Cipher.load(good)
    with pytest.raises(DecryptionError, match="not GM/T 0009 DER"):
        kat_key.decrypt(good[:-3])
    with pytest.raises(DecryptionError, match="not GM/T 0009 DER"):
        kat_key.decrypt(good + b"\x00")
    altered = _cipher(hex(parsed["x_coordinate"].native), hex(parsed["y_coordinate"].native),
                      ("00" * 32), parsed["cipher_text"].native.hex())
    with pytest.raises(DecryptionError, match="integrity check"):
        kat_key.decrypt(altered)
    off_curve = _cipher(hex(parsed["x_coordinate"].native), hex(parsed["y_coordinate"].native ^ 1),
                        parsed["hash"].native.hex(), parsed["cipher_text"].native.hex())
    with pytest.raises(DecryptionError, match="C1 is invalid"):
        kat_key.decrypt(off_curve)
    short_hash = _cipher(hex(parsed["x_coordinate"].native), hex(parsed["y_coordinate"].native),
                         "00" * 31, parsed["cipher_text"].native.hex())
    with pytest.raises(DecryptionError, match="31 bytes, not 32"):
        kat_key.decrypt(short_hash)


def test_shared_bad_keys_are_rejected(shared_vectors):
    files = sorted((shared_vectors / "bad-keys").glob("*.pem"))
    assert len(files) == 3
    for path in files:
        with pytest.raises((InvalidKeyError, KeyFormatError)):
            sm2.PrivateKey.from_pem(path.read_bytes())


def test_stored_public_key_must_match_private_key():
    from gm.keyformat import encode_private_key_pem

    key, other = sm2.PrivateKey.generate(), sm2.PrivateKey.generate()
    forged = encode_private_key_pem(key.to_bytes(), other.public_key.to_bytes())
    with pytest.raises(InvalidKeyError, match="does not match"):
        sm2.PrivateKey.from_pem(forged)


def test_comb_table_path_agrees_with_plain_path():
    """After its second verification a key switches to a precomputed table; both paths must agree."""
    key = sm2.PrivateKey.generate()
    messages = [bytes([i]) * i for i in range(1, 12)]
    signatures = [key.sign(m) for m in messages]
    warm = key.public_key
    for message, signature in zip(messages, signatures):
        cold = sm2.PublicKey.from_bytes(warm.to_bytes())
        assert cold.verify(signature, message) is True
        assert warm.verify(signature, message) is True
        assert warm.verify(signature, message + b"?") is False
        assert warm.verify_digest(signature, bytes(32)) is False
    assert warm._table is not None and cold._table is None
    other = sm2.PrivateKey.generate().sign(messages[0])
    assert warm.verify(other, messages[0]) is False
    assert warm.verify(sm2.signature_from_rs(KAT_R, KAT_S), KAT_M) is False


def _reference_mult(k: int) -> bytes:
    """Textbook affine double-and-add, independent of the native core."""
    from gm.curve import A, GX, GY

    def add(p1, p2):
        if p1 is None:
            return p2
        if p2 is None:
            return p1
        (x1, y1), (x2, y2) = p1, p2
        if x1 == x2 and (y1 + y2) % P == 0:
            return None
        if p1 == p2:
            slope = (3 * x1 * x1 + A) * pow(2 * y1, -1, P) % P
        else:
            slope = (y2 - y1) * pow(x2 - x1, -1, P) % P
        x3 = (slope * slope - x1 - x2) % P
        return x3, (slope * (x1 - x3) - y1) % P

    result, addend = None, (GX, GY)
    while k:
        if k & 1:
            result = add(result, addend)
        addend = add(addend, addend)
        k >>= 1
    return b"\x04" + result[0].to_bytes(32, "big") + result[1].to_bytes(32, "big")


EDGE_SCALARS = [1, 2, 3, 31, 32, 33, 63, 64, 65, 2**6 * 32, 2**251, 2**255, 2**256 - 2**224 - 1, N - 2, N - 3,
                int("20" * 32, 16), int("3f" * 32, 16), int("fe" * 31 + "00", 16) % N,
                sum(32 << (6 * i) for i in range(42)), sum(33 << (6 * i) for i in range(41))]


@pytest.mark.parametrize("k", EDGE_SCALARS)
def test_constant_time_base_multiplication_matches_reference(k):
    k %= N
    assert sm2.PrivateKey.from_bytes(k.to_bytes(32, "big")).public_key.to_bytes() == _reference_mult(k)
    assert _sm2.base_mult(k.to_bytes(32, "big")) == _reference_mult(k)


@pytest.mark.parametrize("k", [1, 2, 33, N - 1, N - 2, 2**255])
def test_constant_time_variable_base_multiplication_matches_reference(k):
    three_g = _reference_mult(3)
    assert _sm2.scalar_mult(k.to_bytes(32, "big"), three_g) == _reference_mult(3 * k % N)


def test_bytes_like_inputs_are_accepted(kat_key):
    signature = kat_key.sign(bytearray(KAT_M), uid=bytearray(sm2.DEFAULT_UID))
    assert kat_key.public_key.verify(memoryview(signature), memoryview(KAT_M), uid=memoryview(sm2.DEFAULT_UID))
    with pytest.raises(TypeError, match="uid must be bytes"):
        kat_key.sign(KAT_M, uid="1234567812345678")


def test_shared_key_is_one_object_per_point_and_validated(monkeypatch):
    import gm.sm2 as sm2mod

    sm2.PublicKey.forget_shared()
    key = sm2.PrivateKey.generate()
    point = key.public_key.to_bytes()
    first = sm2.PublicKey.shared(point)
    assert first is sm2.PublicKey.shared(bytes(point))          # Z_A and tables kept for the next document
    assert first == key.public_key and first is not key.public_key
    signature = key.sign(b"doc")
    assert all(first.verify(signature, b"doc") for _ in range(3))
    assert first._table is not None                            # the comb table is built once, then reused
    assert not first.verify(signature, b"other")
    with pytest.raises(InvalidKeyError):
        sm2.PublicKey.shared(point[:-1] + bytes([point[-1] ^ 1]))  # off the curve: refused, not cached

    monkeypatch.setattr(sm2mod, "_SHARED_KEYS_LIMIT", 3)
    others = [sm2.PrivateKey.generate().public_key.to_bytes() for _ in range(3)]
    sm2.PublicKey.shared(others[0])
    sm2.PublicKey.shared(point)                                # used again: the most recent
    sm2.PublicKey.shared(others[1])
    sm2.PublicKey.shared(others[2])                            # over the limit: others[0] goes
    assert sm2.PublicKey.shared(point) is first
    assert list(sm2mod._shared_keys) == [others[1], others[2], point]
    sm2.PublicKey.forget_shared()
    assert sm2.PublicKey.shared(point) is not first
