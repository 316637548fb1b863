"""Per-key policy, stored as data next to the key.

A policy says which private-key operations a key allows, which roles may ask for them,
which roles may administer the key (disable, destroy, reset its PIN), and whether the
holder's PIN is needed on every use (personal seal keys). The policy is fixed when the
key is generated and is bound into the encryption of the private key (AAD), so editing
it in the database makes the key unusable rather than more permissive.
"""
from __future__ import annotations

import json
from dataclasses import field
from enum import Enum

from gm.records import frozen_record
from keystore.errors import InvalidPolicy, PolicyDenied


class Operation(str, Enum):
    SIGN = "sign"  # sign a message: e = SM3(Z_A || M) computed inside the store
    SIGN_DIGEST = "sign_digest"  # sign a caller-computed e (the caller already hashed Z_A || M)
    DECRYPT = "decrypt"  # SM2 decryption (encryption keys, the KMC key)


class Usage(str, Enum):
    """What a key is for. Informational and used for defaults; the policy decides."""

    CA = "ca"  # root or issuing CA: certificates, CRLs
    OCSP = "ocsp"
    TSA = "tsa"
    SEAL = "seal"  # organization seal signing key
    PERSONAL_SEAL = "personal-seal"  # personal seal / signature key: PIN required
    ENCRYPTION = "encryption"
    KMC = "kmc"  # key management centre escrow key
    AUDIT = "audit"  # signs audit-log checkpoints


_DEFAULT_ROLES: dict[Usage, tuple[frozenset[str], frozenset[str]]] = {
    # usage: (operations, roles)
    Usage.CA: (frozenset({"sign", "sign_digest"}), frozenset({"ca"})),
    Usage.OCSP: (frozenset({"sign", "sign_digest"}), frozenset({"ocsp"})),
    Usage.TSA: (frozenset({"sign", "sign_digest"}), frozenset({"tsa"})),
    Usage.SEAL: (frozenset({"sign", "sign_digest"}), frozenset({"seal"})),
    Usage.PERSONAL_SEAL: (frozenset({"sign", "sign_digest"}), frozenset({"seal"})),
    Usage.ENCRYPTION: (frozenset({"decrypt"}), frozenset({"holder"})),
    Usage.KMC: (frozenset({"decrypt"}), frozenset({"kmc"})),
    Usage.AUDIT: (frozenset({"sign", "sign_digest"}), frozenset({"audit"})),
}

DEFAULT_ADMIN_ROLES = frozenset({"key-admin"})


@frozen_record
class KeyPolicy:
    operations: frozenset[str]
    roles: frozenset[str]
    require_pin: bool = False
    admin_roles: frozenset[str] = field(default=DEFAULT_ADMIN_ROLES)

    def __post_init__(self) -> None:
        ops = frozenset(str(o.value if isinstance(o, Operation) else o) for o in self.operations)
        known = {o.value for o in Operation}
        unknown = sorted(ops - known)
        if unknown:
            raise InvalidPolicy(f"unknown key operation(s) {unknown}; known: {sorted(known)}")
        if not ops:
            raise InvalidPolicy("a key policy must allow at least one operation")
        roles = frozenset(str(r) for r in self.roles)
        admins = frozenset(str(r) for r in self.admin_roles)
        if not roles:
            raise InvalidPolicy("a key policy must name at least one role allowed to use the key")
        if not admins:
            raise InvalidPolicy("a key policy must name at least one administrator role")
        for r in roles | admins:
            if not r or r != r.strip():
                raise InvalidPolicy(f"invalid role name {r!r}")
        object.__setattr__(self, "operations", ops)
        object.__setattr__(self, "roles", roles)
        object.__setattr__(self, "admin_roles", admins)
        object.__setattr__(self, "require_pin", bool(self.require_pin))

    @classmethod
    def for_usage(cls, usage: Usage | str, **overrides: object) -> KeyPolicy:
        """The default policy of a usage (personal seal keys require a PIN)."""
        u = Usage(usage)
        ops, roles = _DEFAULT_ROLES[u]
        values: dict[str, object] = {
            "operations": ops,
            "roles": roles,
            "require_pin": u is Usage.PERSONAL_SEAL,
            "admin_roles": DEFAULT_ADMIN_ROLES,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def check(self, operation: Operation | str, role: str) -> None:
        op = Operation(operation).value
        if op not in self.operations:
            raise PolicyDenied(
                f"operation {op!r} is not allowed for this key (allowed: {sorted(self.operations)})"
            )
        if role not in self.roles:
            raise PolicyDenied(
                f"role {role!r} may not use this key for {op!r} (allowed roles: {sorted(self.roles)})"
            )

    def check_admin(self, action: str, role: str) -> None:
        if role not in self.admin_roles:
            raise PolicyDenied(
                f"role {role!r} may not {action} this key (administrator roles: {sorted(self.admin_roles)})"
            )

    def to_json(self) -> str:
        """Canonical JSON (sorted keys and lists): the same policy always encodes the same."""
        return json.dumps(
            {
                "version": 1,
                "operations": sorted(self.operations),
                "roles": sorted(self.roles),
                "require_pin": self.require_pin,
                "admin_roles": sorted(self.admin_roles),
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> KeyPolicy:
        try:
            data = json.loads(text)
            if data.get("version") != 1:
                raise InvalidPolicy(f"unsupported key policy version {data.get('version')!r}")
            return cls(
                operations=frozenset(data["operations"]),
                roles=frozenset(data["roles"]),
                require_pin=bool(data["require_pin"]),
                admin_roles=frozenset(data["admin_roles"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            if isinstance(exc, InvalidPolicy):
                raise
            raise InvalidPolicy(f"stored key policy is malformed: {exc}") from exc
