"""Migrations: an empty database reaches head on both databases, and models match migrations."""

from __future__ import annotations

from sqlalchemy import inspect

from store.db import make_engine
from store.migrations import current_revision, downgrade, drift, head_revision, migrate
from store.models import Base
from store.testing import *  # noqa: F401,F403


def test_fresh_database_migrates_to_head(database_url: str) -> None:
    assert current_revision(database_url) is None
    migrate(database_url)
    assert current_revision(database_url) == head_revision()
    migrate(database_url)  # running it again is a no-op
    engine = make_engine(database_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert set(Base.metadata.tables) <= tables


def test_first_revision_is_0001_audit(database_url: str) -> None:
    migrate(database_url, "0001_audit")
    assert current_revision(database_url) == "0001_audit"


def test_models_and_migrations_do_not_drift(migrated_database_url: str) -> None:
    # The `alembic check` comparison: a model change without a migration fails here.
    assert drift(migrated_database_url) == []


def test_downgrade_to_base_and_back(migrated_database_url: str) -> None:
    downgrade(migrated_database_url, "base")
    engine = make_engine(migrated_database_url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    migrate(migrated_database_url)
    assert drift(migrated_database_url) == []


def test_opening_a_home_upgrades_its_database(tmp_path, monkeypatch):
    """A home left at an older schema (as after installing a newer eseal) is migrated on open."""
    from store.home import Home
    from store.migrations import current_revision, head_revision, migrate

    monkeypatch.delenv("ESEAL_DATABASE_URL", raising=False)
    home = Home.create(tmp_path / "h", migrate=False)
    migrate(home.engine, revision="0001_audit")
    assert current_revision(home.engine) == "0001_audit"
    home.close()
    reopened = Home.open(tmp_path / "h")
    assert current_revision(reopened.engine) == head_revision() != "0001_audit"
    reopened.close()
