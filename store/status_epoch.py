"""Status rows read once per change instead of once per verification.

A verification in the region's own service asks this home's registries about everything
it meets: the signer's, the TSA's and the seal maker's certificates and their CAs
(verify/registry.py), the seal (seal.service.seal_state) and the e-license
(seal.license.service.license_status) -- six statements per document, each a round trip
on PostgreSQL. Those rows change only when someone acts on a status (revokes, suspends,
reinstates), rarely next to the reads. So the database counts such changes: triggers
(migration 0012) add one to ``status_epoch.value`` in the very transaction that updates
one of the columns in :data:`WATCHED` or deletes a row of those tables (on PostgreSQL at
its commit, a deferred constraint trigger, so the counter's row lock comes last). A verification
reads the epoch once (in its ``store.db.reading_together`` block) and takes rows read
under that same epoch from memory: one statement instead of six, and a change is seen by
the next verification that starts after it commits, in every process.

Why this is exact: rows are kept with the epoch read *before* them in a block, so a
change committed in between bumps the epoch past the one they are kept under; an entry
is used only for the epoch it was kept with. Only rows found are kept: a key without a
row (another region's seal) is asked each time, so a row that appears later (an INSERT,
which no trigger watches) is never hidden. Outside a ``reading_together`` block every
read goes to the database as before.
"""
from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from typing import Any

from store import db

__all__ = ["WATCHED", "StatusRows", "drop_trigger_ddl", "trigger_ddl"]

# table -> the columns of it that some memoised statement reads (or selects by).
WATCHED: dict[str, tuple[str, ...]] = {
    "ca_certificates": ("issuer_id", "serial", "status", "revoked_at", "reason"),
    "seals": ("es_id", "status", "valid_from", "valid_to", "status_changed_at", "status_reason"),
    "license_records": ("id", "status", "type_code", "holder_name", "holder_id", "issued_at", "valid_to",
                        "revoked_at", "revoke_reason", "agency"),
}
_EPOCH = db.HotStatement("SELECT value FROM status_epoch WHERE id = 1")
_LIMIT = 8192       # rows kept per statement and engine; cleared when full


class StatusRows:
    """A :class:`store.db.HotStatement` over the WATCHED columns whose rows are reused while
    the status epoch is unchanged (see the module's docstring)."""

    def __init__(self, statement: db.HotStatement) -> None:
        self.statement = statement
        self._kept: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], tuple[int, list[Any]]]] = \
            weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def read(self, engine: Any, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """The statement's rows for ``params``, on a read connection of ``engine`` (the block's,
        inside ``reading_together``) -- taken only when the rows are not already held."""
        facts = db.block_facts()
        if facts is None:
            with db.read_connection(engine) as conn:
                return self.statement.run(conn, params)
        epoch = facts.get((_EPOCH, engine))
        kept = facts.get((self, engine))
        if epoch is None or kept is None:
            if epoch is None:
                with db.read_connection(engine) as conn:
                    epoch = facts[(_EPOCH, engine)] = _EPOCH.run(conn)[0][0]
            kept = self._kept.get(engine)
            if kept is None:
                with self._lock:
                    kept = self._kept.setdefault(engine, {})
            facts[(self, engine)] = kept
        key = tuple(params.values())
        hit = kept.get(key)
        if hit is not None and hit[0] == epoch:
            return list(hit[1])
        with db.read_connection(engine) as conn:
            rows = self.statement.run(conn, params)
        if rows:
            if len(kept) >= _LIMIT:
                kept.clear()
            kept[key] = (epoch, list(rows))
        return rows


def trigger_ddl(dialect: str) -> list[str]:
    """The statements creating the triggers on ``dialect`` (sqlite | postgresql)."""
    out = []
    if dialect == "postgresql":
        # once per transaction however many rows it changed (a transaction-local setting marks it)
        out.append("CREATE FUNCTION status_epoch_bump() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                   "IF current_setting('eseal.status_epoch_bumped', true) IS DISTINCT FROM 'on' THEN "
                   "UPDATE status_epoch SET value = value + 1 WHERE id = 1; "
                   "PERFORM set_config('eseal.status_epoch_bumped', 'on', true); "
                   "END IF; RETURN NULL; END $$")
        for table, columns in WATCHED.items():
            # Deferred to the commit: the epoch row is then locked after everything else the
            # transaction locks (the audit head, taken by every audited change), in the same
            # order in every transaction -- so two of them cannot deadlock over the two rows.
            out.append(f"CREATE CONSTRAINT TRIGGER status_epoch_{table} AFTER UPDATE OF {', '.join(columns)} "
                       f"OR DELETE ON {table} DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                       "EXECUTE FUNCTION status_epoch_bump()")
        return out
    for table, columns in WATCHED.items():
        bump = "BEGIN UPDATE status_epoch SET value = value + 1 WHERE id = 1; END"
        out.append(f"CREATE TRIGGER status_epoch_{table}_update AFTER UPDATE OF {', '.join(columns)} "
                   f"ON {table} {bump}")
        out.append(f"CREATE TRIGGER status_epoch_{table}_delete AFTER DELETE ON {table} {bump}")
    return out


def drop_trigger_ddl(dialect: str) -> list[str]:
    if dialect == "postgresql":
        return [*(f"DROP TRIGGER IF EXISTS status_epoch_{t} ON {t}" for t in WATCHED),
                "DROP FUNCTION IF EXISTS status_epoch_bump()"]
    return [f"DROP TRIGGER IF EXISTS status_epoch_{t}_{kind}" for t in WATCHED for kind in ("update", "delete")]
