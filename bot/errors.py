"""Errors that carry what a member or an operator may be told."""

from __future__ import annotations


class UserFacingError(Exception):
    """Bad input or a refused action: the member sees the catalog message `key`, ephemeral.

    Commands raise it; the command tree's error handler renders it in the member's language. Nothing must
    have been written when it is raised.
    """

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


class ConfigError(Exception):
    """A setting is missing or malformed: one line for the operator, exit status 2."""


class DatabaseError(Exception):
    """The database cannot be used as it is (unwritable, written by a newer version, ...)."""


class DatabaseClosed(DatabaseError):
    """A statement came after the database was closed: only during shutdown, when late event handlers run."""


class DatabaseUnavailable(DatabaseError):
    """The database cannot take a change right now (disk full, read-only, locked by another process, I/O error);
    nothing of the change was kept. `kind` is one of disk_full, read_only, locked, io_error."""

    def __init__(self, kind: str, description: str) -> None:
        super().__init__(f"database unavailable: {description}")
        self.kind = kind
