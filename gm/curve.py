"""Domain parameters of the SM2 recommended curve sm2p256v1 (GB/T 32918.5-2017, OID 1.2.156.10197.1.301).

Plain numbers shared by the native core (gm/sm2.py), the key containers and Z_A:
every module reads the curve from here so there is one copy to check against the standard.
"""
from __future__ import annotations

from gm.errors import InvalidPointError

P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0
H = 1  # cofactor

FIELD_SIZE = 32  # bytes per coordinate and per private key

P_BYTES = P.to_bytes(FIELD_SIZE, "big")
A_BYTES = A.to_bytes(FIELD_SIZE, "big")
B_BYTES = B.to_bytes(FIELD_SIZE, "big")
N_BYTES = N.to_bytes(FIELD_SIZE, "big")
GX_BYTES = GX.to_bytes(FIELD_SIZE, "big")
GY_BYTES = GY.to_bytes(FIELD_SIZE, "big")
G_BYTES = b"\x04" + GX_BYTES + GY_BYTES  # uncompressed generator, 65 bytes

# SM2 needs (1 + d) invertible mod n for signing, so n - 1 is excluded as well (GB/T 32918.1 6.1).
D_MIN = 1
D_MAX = N - 2


def check_point(point: bytes) -> tuple[int, int]:
    """Return (x, y) of an encoded point on sm2p256v1, or raise InvalidPointError saying what is wrong.

    Accepts the uncompressed (04 || x || y) and compressed (02/03 || x) forms of GB/T 32918.1 4.2.
    One modular square root at most: cheap enough to run on every key we load.
    """
    if not isinstance(point, (bytes, bytearray, memoryview)):
        raise TypeError(f"point must be bytes, not {type(point).__name__}")
    point = bytes(point)
    if not point:
        raise InvalidPointError("empty point encoding")
    prefix = point[0]
    if prefix == 0x04:
        if len(point) != 1 + 2 * FIELD_SIZE:
            raise InvalidPointError(f"uncompressed SM2 point must be 65 bytes, got {len(point)}")
        x = int.from_bytes(point[1:33], "big")
        y = int.from_bytes(point[33:], "big")
        if x >= P or y >= P:
            raise InvalidPointError("point coordinate is not reduced modulo p")
        if (y * y - (x * x * x + A * x + B)) % P:
            raise InvalidPointError("point is not on the SM2 curve sm2p256v1")
        return x, y
    if prefix in (0x02, 0x03):
        if len(point) != 1 + FIELD_SIZE:
            raise InvalidPointError(f"compressed SM2 point must be 33 bytes, got {len(point)}")
        x = int.from_bytes(point[1:], "big")
        if x >= P:
            raise InvalidPointError("point coordinate is not reduced modulo p")
        rhs = (x * x * x + A * x + B) % P
        y = pow(rhs, (P + 1) // 4, P)  # p = 3 (mod 4), so this is the square root if one exists
        if y * y % P != rhs:
            raise InvalidPointError("compressed point has no y on the SM2 curve sm2p256v1")
        if (y & 1) != (prefix & 1):
            y = P - y
        return x, y
    if prefix == 0x00:
        raise InvalidPointError("the point at infinity is not a valid public key")
    raise InvalidPointError(f"unknown point encoding prefix 0x{prefix:02x} (expected 02, 03 or 04)")
