"""The SQLite connection: pragmas, serialized access, transactions, faults and online backup.

One aiosqlite connection writes for the process. Every statement and every transaction on it takes one asyncio
lock, so a transaction is never interleaved with another coroutine's statements on the same connection. Plain
reads (`fetch_one`/`fetch_all` outside a transaction) go to a second, read-only connection with its own lock:
with WAL they see every committed write and are never held up by a write waiting for the file lock (another
process holding a write transaction), so the bot keeps answering what it only has to read. Readers in other
processes (`codeblue backup`) are not blocked.

Faults (docs/ARCHITECTURE.md, "Database faults"): a statement that fails because the disk is full, the file or
its file system is read-only, the file stays locked by another process past the busy timeout, or the disk fails,
raises `DatabaseUnavailable` with its `kind`; nothing of that statement or transaction is kept (rolled back). The
first such failure logs one line and tells the listener (`on_fault`), and so does the first write that succeeds
again afterwards: the bot recovers by itself when the fault clears, without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from bot.errors import DatabaseClosed, DatabaseError, DatabaseUnavailable

log = logging.getLogger(__name__)
BUSY_TIMEOUT_MS = 2000  # a write waits this long for another process's lock: within Discord's 3 s to answer
Params = Sequence[Any] | dict[str, Any]
FaultListener = Callable[[str | None], None]
T = TypeVar("T")
IN_CHUNK = 500  # values per IN (...) list: well under SQLite's limit on the parameters of a statement

# SQLite primary result codes (the low byte of an extended code) that mean "the database cannot be written now".
_FAULT_KINDS = {13: "disk_full", 8: "read_only", 5: "locked", 6: "locked", 10: "io_error", 14: "io_error"}
FAULT_DESCRIPTIONS = {
    "disk_full": "the disk is full",
    "read_only": "the database file or its file system is read-only",
    "locked": "another process holds a write lock on the database",
    "io_error": "the disk reported an I/O error",
}


def fault_kind(exc: BaseException) -> str | None:
    """The fault a sqlite3 error stands for, or None for an ordinary error (a constraint, bad SQL)."""
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return _FAULT_KINDS.get(code & 0xFF)
    text = str(exc).lower()
    for needle, kind in (("disk is full", "disk_full"), ("readonly", "read_only"), ("read-only", "read_only"),
                         ("locked", "locked"), ("disk i/o", "io_error")):
        if needle in text:
            return kind
    return None


@dataclass(frozen=True, slots=True)
class Executed:
    """What one statement did: rows changed, and the rowid an INSERT made."""

    rowcount: int
    lastrowid: int | None


def _in_thread(conn: aiosqlite.Connection, work: Callable[[sqlite3.Connection], T]) -> Awaitable[T]:
    """Run `work` with the underlying sqlite3 connection in the connection's own thread: one trip there and back.

    aiosqlite's statement API costs one trip per execute, per fetch and per cursor close; a trip is a thread hand-off
    of about 60 microseconds of CPU (two wake-ups and a self-pipe write), which added up to most of a news poll's
    database cost (`benchmarks/bench_news_poll.py`). aiosqlite has no public call for this: `_execute` and `_conn`
    are what its own methods use (pinned `aiosqlite<1`; tests/db/test_database_trips.py checks them).
    """
    trip: Awaitable[T] = conn._execute(work, conn._conn)  # type: ignore[no-untyped-call]
    return trip


class SyncTransaction:
    """The statements of a transaction run as a whole in the database thread (`Database.write`): the same calls as
    `Transaction`, not awaited."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Params = ()) -> Executed:
        cursor = self._conn.execute(sql, params)
        try:
            return Executed(rowcount=cursor.rowcount, lastrowid=cursor.lastrowid)
        finally:
            cursor.close()

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        self._conn.executemany(sql, rows).close()

    def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        cursor = self._conn.execute(sql, params)
        try:
            row: sqlite3.Row | None = cursor.fetchone()
            return row
        finally:
            cursor.close()

    def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        cursor = self._conn.execute(sql, params)
        try:
            return list(cursor.fetchall())
        finally:
            cursor.close()


class Transaction:
    """Statements inside one BEGIN IMMEDIATE ... COMMIT; obtained from `Database.transaction()`. Each statement is
    one trip to the database thread (`_in_thread`)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> Executed:
        return await _in_thread(self._conn, lambda c: SyncTransaction(c).execute(sql, params))

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        await _in_thread(self._conn, lambda c: SyncTransaction(c).executemany(sql, rows))

    async def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        return await _in_thread(self._conn, lambda c: SyncTransaction(c).fetch_one(sql, params))

    async def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        return await _in_thread(self._conn, lambda c: SyncTransaction(c).fetch_all(sql, params))


class Database:
    def __init__(self, path: Path | str, *, on_fault: FaultListener | None = None) -> None:
        self.path = Path(path)
        self._conn: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._read_lock = asyncio.Lock()
        self._on_fault = on_fault
        self.fault: str | None = None  # the kind of the fault now in effect, None when writes succeed

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
        self._reader = await self._open_reader()

    async def _open_reader(self) -> aiosqlite.Connection | None:
        """The read-only connection for plain reads; None (reads share the writer) when it cannot be opened."""
        try:
            reader = await aiosqlite.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                             isolation_level=None)
        except (sqlite3.Error, ValueError):
            log.warning("no separate reading connection for %s; reads share the writing one", self.path)
            return None
        reader.row_factory = sqlite3.Row
        await reader.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return reader

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
        async with self._read_lock:
            reader, self._reader = self._reader, None
            if reader is not None:
                await reader.close()

    async def ping(self) -> bool:
        """Whether the database answers a trivial query (for health checks); never raises."""
        try:
            return await self.fetch_one("SELECT 1") is not None
        except Exception:
            return False

    # --- faults ---------------------------------------------------------------------------------------------------

    def _failed(self, exc: BaseException) -> None:
        """Raise DatabaseUnavailable for a fault (logging its start once), else nothing (the caller re-raises)."""
        kind = fault_kind(exc)
        if kind is None:
            return
        if self.fault != kind:
            self.fault = kind
            log.error("database unavailable: %s (%s): changes are refused until that is fixed; reads go on; "
                      "nothing already saved is lost (%s)", FAULT_DESCRIPTIONS[kind], self.path, exc)
            self._tell(kind)
        raise DatabaseUnavailable(kind, FAULT_DESCRIPTIONS[kind]) from exc

    def _written(self) -> None:
        if self.fault is not None:
            log.warning("database writable again (%s after: %s)", self.path, FAULT_DESCRIPTIONS[self.fault])
            self.fault = None
            self._tell(None)

    def _tell(self, kind: str | None) -> None:
        if self._on_fault is not None:
            try:
                self._on_fault(kind)
            except Exception:
                log.exception("database fault listener failed")

    # --- statements -----------------------------------------------------------------------------------------------

    async def execute(self, sql: str, params: Params = ()) -> Executed:
        async with self._lock:
            try:
                done = await Transaction(self.connection).execute(sql, params)
            except sqlite3.Error as exc:
                self._failed(exc)
                raise
        if done.rowcount > 0 and not sql.lstrip()[:6].upper().startswith(("SELECT", "PRAGMA")):
            self._written()  # something really reached the file (a no-op write proves nothing)
        return done

    async def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        async with self._reading(sql) as conn:
            return await Transaction(conn).fetch_one(sql, params)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        async with self._reading(sql) as conn:
            return await Transaction(conn).fetch_all(sql, params)

    async def fetch_all_in(self, sql: str, values: Iterable[Any], before: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """`fetch_all` of `sql` whose `{marks}` is the placeholder list of an IN over `values` (repeats dropped), in
        reads of at most IN_CHUNK values; `before`: the parameters ahead of the list."""
        unique = list(dict.fromkeys(values))
        rows: list[sqlite3.Row] = []
        for start in range(0, len(unique), IN_CHUNK):
            chunk = unique[start:start + IN_CHUNK]
            rows.extend(await self.fetch_all(sql.format(marks=", ".join("?" * len(chunk))), (*before, *chunk)))
        return rows

    @asynccontextmanager
    async def _reading(self, sql: str) -> AsyncIterator[aiosqlite.Connection]:
        """The connection a plain read runs on: the reading one, except for PRAGMAs (they describe the writer)."""
        shared = self._reader is None or sql.lstrip()[:6].upper() == "PRAGMA"
        async with self._lock if shared else self._read_lock:
            conn = self.connection if shared else self._reader
            if conn is None:
                raise DatabaseClosed("the database is not connected (closed or not yet opened)")
            try:
                yield conn
            except sqlite3.Error as exc:
                self._failed(exc)
                raise

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One unit of work: committed when the block ends, rolled back if it raises."""
        async with self._lock:
            conn = self.connection
            try:
                await conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                self._failed(exc)
                raise
            changes = conn.total_changes
            try:
                yield Transaction(conn)
            except sqlite3.Error as exc:
                await self._rollback(conn)
                self._failed(exc)
                raise
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
            except sqlite3.Error as exc:
                # COMMIT itself failed (full disk, I/O error, deferred constraint): a transaction left open would
                # swallow every later write on this shared connection.
                await self._rollback(conn)
                self._failed(exc)
                raise
            except BaseException:
                await self._rollback(conn)
                raise
            wrote = conn.total_changes > changes
        if wrote:
            self._written()

    async def write(self, work: Callable[[SyncTransaction], T]) -> T:
        """One transaction in one trip to the database thread: BEGIN IMMEDIATE, `work`, COMMIT (ROLLBACK when it
        raises). `work` runs in that thread, so it must not touch the event loop or anything it owns; it suits hot
        paths whose statements need nothing awaited between them (a polled feed's record). Faults are handled as in
        `transaction()`. A caller cancelled meanwhile does not cut it short: the transaction still ends whole,
        committed or rolled back, before the connection is free again."""

        def run(conn: sqlite3.Connection) -> tuple[T, bool]:
            conn.execute("BEGIN IMMEDIATE")
            changes = conn.total_changes
            try:
                result = work(SyncTransaction(conn))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        log.exception("rollback failed")
                raise
            return result, conn.total_changes > changes

        async with self._lock:
            trip = asyncio.ensure_future(_in_thread(self.connection, run))
            try:
                result, wrote = await asyncio.shield(trip)
            except asyncio.CancelledError:
                await asyncio.wait({trip})  # the connection stays taken until the transaction has ended
                failure = None if trip.cancelled() else trip.exception()
                if failure is not None:  # a fault is still reported (logged, listener told); the cancellation goes on
                    with contextlib.suppress(DatabaseUnavailable):
                        self._failed(failure)
                raise
            except sqlite3.Error as exc:
                self._failed(exc)
                raise
        if wrote:
            self._written()
        return result

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
