"""The SQLite connection: pragmas, serialized access, transactions and online backup.

One aiosqlite connection serves the process. Every statement and every transaction takes one asyncio lock, so
a transaction is never interleaved with another coroutine's statements on the same connection. SQLite with WAL
is fast enough for this to be no bottleneck; readers in other processes (`codeblue backup`) are not blocked.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from bot.errors import DatabaseClosed, DatabaseError

log = logging.getLogger(__name__)
BUSY_TIMEOUT_MS = 5000
Params = Sequence[Any] | dict[str, Any]


@dataclass(frozen=True, slots=True)
class Executed:
    """What one statement did: rows changed, and the rowid an INSERT made."""

    rowcount: int
    lastrowid: int | None


class Transaction:
    """Statements inside one BEGIN IMMEDIATE ... COMMIT; obtained from `Database.transaction()`."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> Executed:
        cursor = await self._conn.execute(sql, params)
        try:
            return Executed(rowcount=cursor.rowcount, lastrowid=cursor.lastrowid)
        finally:
            await cursor.close()

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        await self._conn.executemany(sql, rows)

    async def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        async with self._conn.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        async with self._conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())


class Database:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def connect(self) -> None:
        if self.path.parent and not self.path.parent.exists():
            raise DatabaseError(f"the folder {self.path.parent} does not exist: create it or set CODEBLUE_DB")
        try:
            conn = await aiosqlite.connect(str(self.path), isolation_level=None)
        except sqlite3.Error as exc:
            raise DatabaseError(f"cannot open {self.path}: {exc}: set CODEBLUE_DB to a writable path") from exc
        conn.row_factory = sqlite3.Row
        try:
            await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA foreign_keys = ON")
            await conn.execute("PRAGMA synchronous = NORMAL")
            # Fail now, not at the first write, if the file or folder is read-only.
            await conn.execute("BEGIN IMMEDIATE")
            await conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            await conn.close()
            raise DatabaseError(f"{self.path} is not writable ({exc}): set CODEBLUE_DB to a writable path") from exc
        self._conn = conn

    @property
    def connection(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise DatabaseClosed("the database is not connected (closed or not yet opened)")
        return self._conn

    async def close(self) -> None:
        """Close after any statement or transaction in flight has finished."""
        if self._conn is None:
            return
        async with self._lock:
            conn, self._conn = self._conn, None
            await conn.close()

    async def ping(self) -> bool:
        """Whether the database answers a trivial query (for health checks); never raises."""
        try:
            return await self.fetch_one("SELECT 1") is not None
        except Exception:
            return False

    async def execute(self, sql: str, params: Params = ()) -> Executed:
        async with self._lock:
            return await Transaction(self.connection).execute(sql, params)

    async def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        async with self._lock:
            return await Transaction(self.connection).fetch_one(sql, params)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        async with self._lock:
            return await Transaction(self.connection).fetch_all(sql, params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One unit of work: committed when the block ends, rolled back if it raises."""
        async with self._lock:
            conn = self.connection
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(conn)
            except BaseException:
                await self._rollback(conn)
                raise
            commit = asyncio.ensure_future(self._execute(conn, "COMMIT"))
            try:
                await asyncio.shield(commit)
            except asyncio.CancelledError:
                # The COMMIT is already in the database thread: let it finish (the write is then on disk) rather
                # than roll back under it; the caller's cancellation still goes on.
                await asyncio.wait({commit})
                if commit.exception() is not None:
                    await self._rollback(conn)
                raise
            except BaseException:
                # COMMIT itself failed (full disk, I/O error, deferred constraint): a transaction left open would
                # swallow every later write on this shared connection.
                await self._rollback(conn)
                raise

    @staticmethod
    async def _execute(conn: aiosqlite.Connection, sql: str) -> None:
        await conn.execute(sql)

    @staticmethod
    async def _rollback(conn: aiosqlite.Connection) -> None:
        if conn.in_transaction:
            try:
                await conn.execute("ROLLBACK")
            except sqlite3.Error:
                log.exception("rollback failed")


def backup_database(source: Path | str, destination: Path | str) -> None:
    """Write a consistent copy of `source` to `destination` with SQLite's online backup API.

    Safe while the bot runs: the backup API copies a consistent snapshot and retries pages that change.
    """
    source, destination = Path(source), Path(destination)
    if not source.exists():
        raise DatabaseError(f"there is no database at {source}: set CODEBLUE_DB to the bot's database")
    if destination.exists():
        raise DatabaseError(f"{destination} already exists: choose a new file name")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        dst = sqlite3.connect(str(destination))
        try:
            src.backup(dst)
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise DatabaseError(f"backup to {destination} failed: {exc}") from exc
    finally:
        src.close()
