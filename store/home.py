"""The data folder of a deployment (`--home H`): configuration, database, published files.

    H/eseal.toml   optional configuration (written by Home.create; marks H as a home)
    H/eseal.db     the SQLite database, unless ESEAL_DATABASE_URL or database_url says otherwise
    H/...          files other packages write (root.pem, CRLs, the audit public key)

Configuration is environment variables over eseal.toml over defaults; unknown keys in the
file are refused. Keys (env var in brackets):

    database_url            [ESEAL_DATABASE_URL]            default sqlite:///H/eseal.db
    audit_checkpoint_every  [ESEAL_AUDIT_CHECKPOINT_EVERY]  default 1000
    sqlite_busy_timeout_ms  [ESEAL_SQLITE_BUSY_TIMEOUT_MS]  default 30000
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import fields
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from gm.records import frozen_record
from store.db import DEFAULT_BUSY_TIMEOUT_MS, DEFAULT_CHECKPOINT_EVERY, make_engine, normalize_url, resolve_database_url
from store.errors import ConfigError, DatabaseUnavailableError, HomeError, HomeExistsError, HomeNotFoundError

CONFIG_FILE = "eseal.toml"
AUDIT_PUBLIC_KEY_FILE = "audit-signer.pub.pem"


@frozen_record
class Config:
    database_url: str | None = None
    audit_checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY
    sqlite_busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS

    def __post_init__(self) -> None:
        if self.database_url is not None:
            if not isinstance(self.database_url, str):
                raise ConfigError("database_url must be a string")
            normalize_url(self.database_url)
        for name in ("audit_checkpoint_every", "sqlite_busy_timeout_ms"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < (1 if "every" in name else 0):
                raise ConfigError(
                    f"{name} must be a {'positive' if 'every' in name else 'non-negative'} integer, not {value!r}"
                )

    @classmethod
    def load(cls, home: Path, environ: dict[str, str] | None = None) -> Config:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        path = home / CONFIG_FILE
        if path.exists():
            try:
                values = tomllib.loads(path.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{path} is not valid TOML: {exc}") from None
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(sorted(known))}")
        for name in known:
            raw = env.get(f"ESEAL_{name.upper()}")
            if raw:
                if name == "database_url":
                    values[name] = raw
                else:
                    try:
                        values[name] = int(raw)
                    except ValueError:
                        raise ConfigError(f"ESEAL_{name.upper()} must be an integer, not {raw!r}") from None
        return cls(**values)


class Home:
    """An eseal data folder. Make one with `Home.create`, use one with `Home.open`."""

    def __init__(self, path: Path, config: Config) -> None:
        self.path = path
        self.config = config

    @classmethod
    def create(cls, path: str | Path, *, database_url: str | None = None, migrate: bool = True) -> Home:
        """Create the folder (mode 0700) and eseal.toml, and migrate the database to head.

        Refuses a folder that already has files in it: an existing home is never overwritten.
        """
        path = Path(path).expanduser().resolve()
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise HomeExistsError(
                f"{path} already exists and is not empty; eseal never overwrites an existing "
                "home (use `--home` with a new folder, or open this one)"
            )
        if database_url is not None:
            normalize_url(database_url)
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:   # a parent that is a file, a read-only or missing mount, ...
            raise HomeError(f"cannot create the home {path}: {exc.strerror or exc}") from None
        lines = ["# eseal configuration; environment variables ESEAL_<KEY> override these.\n"]
        if database_url is not None:
            lines.append(f"database_url = {json.dumps(database_url, ensure_ascii=False)}\n")
        else:
            lines.append(f'# database_url = "postgresql://user@host:5432/eseal"  (default: {path}/eseal.db)\n')
        lines.append(f"# audit_checkpoint_every = {DEFAULT_CHECKPOINT_EVERY}\n")
        config_path = path / CONFIG_FILE
        with open(config_path, "x", encoding="utf-8") as handle:
            handle.writelines(lines)
        os.chmod(config_path, 0o600)
        home = cls(path, Config.load(path))
        if migrate:
            home.migrate()
        return home

    @classmethod
    def open(cls, path: str | Path, *, migrate: bool = True) -> Home:
        """Open an existing home; its database is brought up to the newest schema (an upgrade
        runs its migrations here; a no-op when already at head)."""
        path = Path(path).expanduser().resolve()
        if not (path / CONFIG_FILE).is_file():
            raise HomeNotFoundError(
                f"{path} is not an eseal home (no {CONFIG_FILE}); create one with `eseal init --home {path}`"
            )
        home = cls(path, Config.load(path))
        if migrate:
            home.migrate()
        return home

    @property
    def database_url(self) -> str:
        return resolve_database_url(self.path, self.config.database_url)

    @property
    def audit_public_key_path(self) -> Path:
        """Where the region's audit signer public key (PEM) is published for `eseal audit verify`."""
        return self.path / AUDIT_PUBLIC_KEY_FILE

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.database_url, busy_timeout_ms=self.config.sqlite_busy_timeout_ms)

    def migrate(self) -> None:
        """Bring the database to the newest schema; DatabaseUnavailableError when it cannot be
        reached or is not a database (the first use of a home's database happens here)."""
        from sqlalchemy.exc import DBAPIError

        from store.migrations import migrate

        try:
            migrate(self.engine)
        except DBAPIError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
            url = self.engine.url.render_as_string(hide_password=True)
            raise DatabaseUnavailableError(f"cannot use the database of {self.path} ({url}): {reason}") from exc

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.__dict__.pop("engine").dispose()

    def __enter__(self) -> Home:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Home({str(self.path)!r})"
