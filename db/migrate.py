"""Numbered SQL migrations (`db/migrations/NNNN_name.sql`), each applied in one transaction.

The applied versions are recorded in `schema_migrations` inside the same database, in the same transaction
as the migration's statements: a crash leaves either the whole migration or none of it. A database that
records a version this code does not know was written by a newer Code Blue and is refused untouched.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from bot.errors import DatabaseError
from db.database import Database

_NAME_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    found = []
    for entry in resources.files("db.migrations").iterdir():
        match = _NAME_RE.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise DatabaseError(f"two migration files share a number: {versions}")
    return found


def split_statements(script: str) -> list[str]:
    """Split a script into complete statements (triggers with inner semicolons stay whole)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip(" \n\t;"):
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        # Only comments may trail the last statement.
        leftover = "\n".join(x for x in buffer.splitlines() if not x.strip().startswith("--")).strip()
        if leftover:
            raise DatabaseError(f"incomplete SQL statement at the end of a migration: {leftover[:60]!r}")
    return statements


def _newer_database(path: object, version: int, latest: int) -> DatabaseError:
    return DatabaseError(
        f"the database {path} was written by a newer Code Blue (schema {version}, this one knows {latest}): "
        "upgrade Code Blue or point CODEBLUE_DB at another file; the database was not modified"
    )


async def applied_versions(db: Database) -> set[int]:
    row = await db.fetch_one("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
    if row is None:
        return set()
    return {int(r["version"]) for r in await db.fetch_all("SELECT version FROM schema_migrations")}


async def current_version(db: Database) -> int:
    return max(await applied_versions(db), default=0)


async def migrate(db: Database, migrations: list[Migration] | None = None, *, target: int | None = None) -> int:
    """Apply every known migration not applied yet, in order, up to `target` (default: all).

    Migrations are matched by number, not only "above the highest applied": a migration merged after a
    higher-numbered one (two branches of work landing out of order) is still applied. Returns the highest version.
    """
    migrations = load_migrations() if migrations is None else migrations
    latest = migrations[-1].version if migrations else 0
    applied = await applied_versions(db)
    unknown = applied - {m.version for m in migrations}
    if unknown:
        raise _newer_database(db.path, max(unknown), latest)
    target = latest if target is None else target
    for migration in migrations:
        if migration.version in applied or migration.version > target:
            continue
        async with db.transaction() as tx:
            await tx.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            for statement in split_statements(migration.sql):
                await tx.execute(statement)
            await tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, datetime.now(UTC).isoformat()),
            )
        applied.add(migration.version)
    return max(applied, default=0)


def check_database(path: str | Path) -> None:
    """Before connecting to Discord: the database can be written and was not written by a newer Code Blue.

    Synchronous on purpose: it runs once in the command line before the event loop starts.
    """
    path = Path(path)
    if not path.parent.exists():
        raise DatabaseError(f"the folder {path.parent} does not exist: create it or set CODEBLUE_DB")
    try:
        conn = sqlite3.connect(str(path), timeout=5)
    except sqlite3.Error as exc:
        raise DatabaseError(f"cannot open {path}: {exc}: set CODEBLUE_DB to a writable path") from exc
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        has_table = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        ).fetchone()
        version = 0
        if has_table:
            version = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0]
    except sqlite3.Error as exc:
        raise DatabaseError(f"{path} is not a writable SQLite database ({exc}): set CODEBLUE_DB") from exc
    finally:
        conn.close()
    latest = load_migrations()[-1].version
    if version > latest:
        raise _newer_database(path, version, latest)
