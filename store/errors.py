"""Typed errors of store/. Each carries a message a person can act on."""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error raised by store/."""


class ConfigError(StoreError, ValueError):
    """The configuration (environment or eseal.toml) is malformed or names an unknown key."""


class HomeError(StoreError):
    """The data folder (--home) cannot be created or opened."""


class HomeExistsError(HomeError, FileExistsError):
    """`Home.create` was asked to create a home where one (or other files) already exist."""


class HomeNotFoundError(HomeError, FileNotFoundError):
    """`Home.open` was given a folder that is not an eseal home."""


class DatabaseUnavailableError(HomeError):
    """The home's database cannot be reached or read (server down, wrong URL, a file that is
    not a SQLite database)."""


class AuditError(StoreError, ValueError):
    """An audit record or checkpoint was requested with bad input (misuse, not tampering).

    Tampering is never an exception: `store.audit.verify` reports it as findings.
    """
