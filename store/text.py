"""Text that a database column can hold, whatever the database.

PostgreSQL refuses U+0000 in text (SQLite stores it), and no UTF-8 encoder -- the driver's,
SQLite's -- takes a surrogate code point, which JSON's \\uD800 escapes and Python's reading
of arguments that are not UTF-8 (PEP 383) can both produce unpaired. Text from outside
(a request, a fetched trust list) is checked with :func:`unstorable` before it can reach a
query, so the caller answers with its own clear error instead of the driver's.
"""
from __future__ import annotations

import functools
import re
from typing import Any

__all__ = ["unstorable", "control_character", "reason_problem", "REASON_MAX", "column_length", "too_long",
           "actor_problem"]

_UNSTORABLE = re.compile("[\\x00\\ud800-\\udfff]")
# C0 and C1 controls and unpaired surrogates: never in a name (a certificate's, a seal's).
_CONTROL = re.compile("[\\x00-\\x1f\\x7f-\\x9f\\ud800-\\udfff]")


def unstorable(text: str) -> str | None:
    """What in ``text`` no database column takes (None when nothing), in words for an error."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    char = found.group()
    return "a NUL character (U+0000)" if char == "\x00" else f"an unpaired surrogate (U+{ord(char):04X})"


def control_character(text: str) -> str | None:
    """The first control character or unpaired surrogate in ``text`` as "U+XXXX" (None when
    there is none). A name holding one is refused: a NUL cuts it short for software that reads
    C strings ("www.bank.cn\\0.evil.cn"), the others print as nothing or garble a report."""
    found = _CONTROL.search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"


REASON_MAX = 500  # the status_reason / revoke_reason columns: VARCHAR(500), which PostgreSQL enforces


def reason_problem(reason: str, what: str) -> str | None:
    """Why ``reason`` (``what``: "the revocation reason", say) cannot be stored as a status
    change's reason -- longer than its column, or not one line of text -- in words for an
    error; None when it can. The caller stores it stripped."""
    if len(reason) > REASON_MAX:  # as sent, as the API's schema bounds it
        return f"{what} is longer than {REASON_MAX} characters"
    found = control_character(reason.strip())  # one line, as the status pages and the audit log show it
    if found is not None:
        return f"{what} contains {found}: control characters and line breaks are not allowed in a reason"
    return None


def column_length(column: Any) -> int:
    """N of a VARCHAR(N) column, read from its mapped attribute (``ApiToken.label``, say), so a
    check follows the model instead of repeating its number."""
    length = column.type.length
    if not isinstance(length, int):
        raise TypeError(f"{column} is not a column of bounded length")
    return length


def too_long(text: str, column: Any, what: str) -> str | None:
    """Why ``text`` does not fit ``column`` (a mapped VARCHAR(N) attribute) -- PostgreSQL refuses
    more than N characters with a driver error where SQLite stores them all -- in words for an
    error; None when it fits. N counts characters, so a CJK character is one."""
    limit = column_length(column)
    if len(text) > limit:
        return f"{what} is longer than {limit} characters ({len(text)})"
    return None


@functools.cache
def _narrowest_actor_column() -> Any:
    """Of every column an actor's name is written to, the narrowest (the models are imported
    here, not at the top: no cycle; looked up once)."""
    from store.models.audit import AuditRecord
    from store.models.ca_workflow import CertificateApplication
    from store.models.keys import RecoveryApproval, RecoveryRequest
    from store.models.license import LicenseRecord
    from store.models.seal import SealAuthorisation, SealRecord
    from store.models.tsa import TsaToken

    return min((AuditRecord.actor, SealRecord.created_by, SealAuthorisation.granted_by, LicenseRecord.issued_by,
                CertificateApplication.operator, CertificateApplication.reviewer, CertificateApplication.decided_by,
                TsaToken.actor, RecoveryRequest.requested_by, RecoveryApproval.approver), key=column_length)


def actor_problem(actor: str) -> str | None:
    """Why ``actor`` (who acts: the CLI's --actor, a workflow's operator) cannot be recorded --
    empty, longer than the narrowest column that stores an actor, or not one line -- in words
    for an error; None when it can."""
    if not isinstance(actor, str) or not actor.strip():
        return "the actor must be a name (who acts, for the audit log)"
    problem = too_long(actor, _narrowest_actor_column(), "the actor")
    if problem is not None:
        return problem
    found = control_character(actor)
    if found is not None:
        return f"the actor contains {found}: control characters and line breaks are not allowed in a name"
    return None
