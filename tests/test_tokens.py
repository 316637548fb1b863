"""API tokens: shown once, stored hashed, authenticated in constant time, revocable (both databases)."""
from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from store import audit, tokens
from store.db import make_sessionmaker, transaction
from store.models.tokens import ApiToken
from store.testing import *  # noqa: F401,F403


def test_token_authenticates_with_its_role_and_is_stored_only_as_a_hash(store_engine: Engine) -> None:
    sessions = make_sessionmaker(store_engine)
    token, info = tokens.create_token(sessions, role="agency", agency="gd-amr", label="市场监管局")
    assert info.role == "agency" and info.agency == "gd-amr"
    found = tokens.authenticate(sessions, token)
    assert found is not None and found.token_id == info.token_id and found.role == "agency"
    secret = token.split("_", 2)[2]
    with sessions() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.token_id == info.token_id))
        assert secret.encode() not in bytes(row.secret_hash) and len(row.secret_hash) == 32


@pytest.mark.parametrize("mutate", [
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # wrong secret
    lambda t: "esk_0000000000000000_" + t.split("_", 2)[2],  # unknown id
    lambda t: t.replace("esk_", "xyz_"),  # wrong prefix
    lambda t: "",
    lambda t: t + "é",  # not ASCII
])
def test_wrong_tokens_are_refused(store_engine: Engine, mutate) -> None:
    sessions = make_sessionmaker(store_engine)
    token, _ = tokens.create_token(sessions, role="admin")
    assert tokens.authenticate(sessions, mutate(token)) is None


def test_revoked_token_is_refused_and_both_changes_are_audited(store_engine: Engine) -> None:
    sessions = make_sessionmaker(store_engine)
    token, info = tokens.create_token(sessions, role="auditor")
    tokens.revoke_token(sessions, info.token_id, actor="admin:root")
    assert tokens.authenticate(sessions, token) is None
    with pytest.raises(tokens.TokenError, match="already revoked"):
        tokens.revoke_token(sessions, info.token_id)
    with pytest.raises(tokens.TokenError, match="no token"):
        tokens.revoke_token(sessions, "ffffffffffffffff")
    with transaction(store_engine, readonly=True) as s:
        assert audit.verify(s).ok
        actions = [r.action for r in s.scalars(select(audit.AuditRecord).order_by(audit.AuditRecord.seq))]
    assert actions == ["token.create", "token.revoke"]


@pytest.mark.parametrize(("role", "agency", "message"), [
    ("root", None, "unknown role"),
    ("agency", None, "needs --agency"),
    ("admin", "gd-amr", "only agency tokens"),
])
def test_bad_token_requests_are_refused(store_engine: Engine, role, agency, message) -> None:
    with pytest.raises(tokens.TokenError, match=message):
        tokens.create_token(make_sessionmaker(store_engine), role=role, agency=agency)


def test_the_secret_is_compared_in_constant_time(store_engine: Engine, monkeypatch) -> None:
    """A wrong secret of a known token id reaches hmac.compare_digest with the stored hash and
    the candidate's (equal lengths: the comparison takes the same time wherever they differ);
    ``==`` on the bytes would leak the length of the matching prefix."""
    import hmac

    sessions = make_sessionmaker(store_engine)
    token, _ = tokens.create_token(sessions, role="auditor")
    seen: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def recording(a, b):  # noqa: ANN001, ANN202
        seen.append((bytes(a), bytes(b)))
        return real(a, b)

    monkeypatch.setattr(tokens.hmac, "compare_digest", recording)
    assert tokens.authenticate(sessions, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert tokens.authenticate(sessions, token) is not None
    assert len(seen) == 2 and all(len(a) == len(b) == 32 for a, b in seen)
    assert seen[0][0] == seen[1][0] == seen[1][1] != seen[0][1]


@pytest.mark.parametrize("fields, message", [
    ({"role": "agency", "agency": "某" * 201}, "the agency is longer than 200 characters"),
    ({"role": "agency", "agency": "a" * 201}, "the agency is longer than 200 characters"),
    ({"role": "admin", "label": "标" * 201}, "the label is longer than 200 characters"),
    ({"role": "admin", "label": "ops\nteam"}, r"the label contains U\+000A"),
    ({"role": "admin", "actor": "管" * 201}, "the actor is longer than 200 characters"),
])
def test_a_token_whose_agency_label_or_actor_does_not_fit_is_refused(store_engine: Engine, fields, message) -> None:
    """api_tokens.agency and label are VARCHAR(200) (the agency as wide as seals.agency since
    0013): longer was a driver error on PostgreSQL (`eseal token create` a traceback) and
    stored whole on SQLite."""
    sessions = make_sessionmaker(store_engine)
    with pytest.raises(tokens.TokenError, match=message):
        tokens.create_token(sessions, **fields)
    assert tokens.list_tokens(sessions) == []
    _, info = tokens.create_token(sessions, role="agency", agency="某" * 200, label="标" * 200)
    assert (info.agency, info.label) == ("某" * 200, "标" * 200)   # any agency a seal can name
