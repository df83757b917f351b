"""Trips to the database thread: a statement or a read is one trip, a `Database.write` transaction is one trip
however many statements it runs, and it is all or nothing, also for a caller cancelled meanwhile or a lock held by
another process (db/database.py `_in_thread`, `Database.write`)."""

import asyncio
import sqlite3
import threading

import pytest

from bot.errors import DatabaseUnavailable
from db.database import IN_CHUNK, SyncTransaction
from db.news import NewsRepository

REPOSITORY = NewsRepository


@pytest.fixture
def trips(migrated_db, monkeypatch):
    """Counts the functions handed to the writing and the reading connection's thread (aiosqlite's `_execute`,
    which `_in_thread` relies on: the test fails if aiosqlite renames it)."""
    counted = {"n": 0}
    for conn in (migrated_db.connection, migrated_db._reader):
        original = conn._execute

        async def counting(fn, *args, _original=original, **kwargs):
            counted["n"] += 1
            return await _original(fn, *args, **kwargs)

        monkeypatch.setattr(conn, "_execute", counting)
    return counted


async def test_a_statement_and_a_read_are_one_trip_each(migrated_db, trips):
    await migrated_db.execute("CREATE TABLE t (x INTEGER)")
    assert trips["n"] == 1
    done = await migrated_db.execute("INSERT INTO t (x) VALUES (1)")
    assert (done.rowcount, trips["n"]) == (1, 2)
    assert [tuple(r) for r in await migrated_db.fetch_all("SELECT x FROM t")] == [(1,)]
    assert tuple(await migrated_db.fetch_one("SELECT count(*) FROM t")) == (1,)
    assert trips["n"] == 4


async def test_a_write_runs_its_statements_in_one_trip_and_commits_them(migrated_db, trips):
    await migrated_db.execute("CREATE TABLE t (x INTEGER)")
    before = trips["n"]

    def work(tx: SyncTransaction) -> int:
        tx.execute("INSERT INTO t (x) VALUES (1)")
        tx.executemany("INSERT INTO t (x) VALUES (?)", [(2,), (3,)])
        return tx.fetch_one("SELECT sum(x) FROM t")[0]

    assert await migrated_db.write(work) == 6
    assert trips["n"] == before + 1
    assert not migrated_db.connection.in_transaction
    assert (await migrated_db.fetch_one("SELECT count(*) FROM t"))[0] == 3


async def test_a_write_that_raises_keeps_nothing(migrated_db):
    await migrated_db.execute("CREATE TABLE t (x INTEGER UNIQUE)")

    def work(tx: SyncTransaction) -> None:
        tx.execute("INSERT INTO t (x) VALUES (1)")
        tx.execute("INSERT INTO t (x) VALUES (1)")  # violates UNIQUE

    with pytest.raises(sqlite3.IntegrityError):
        await migrated_db.write(work)
    assert not migrated_db.connection.in_transaction
    assert (await migrated_db.fetch_one("SELECT count(*) FROM t"))[0] == 0
    await migrated_db.execute("INSERT INTO t (x) VALUES (1)")  # the connection is usable afterwards


class CancelledMidWrite:
    """A write that inserts 1, is cancelled while its transaction is open (the connection must stay taken), and
    then, once `finish()` lets it go on, runs `last_step` in the same transaction."""

    def __init__(self, db, last_step) -> None:
        self.db, self.last_step = db, last_step
        self._started, self._release = threading.Event(), threading.Event()
        self.task: asyncio.Task | None = None

    def _work(self, tx: SyncTransaction) -> None:
        tx.execute("INSERT INTO t (x) VALUES (1)")
        self._started.set()
        self._release.wait(10)
        self.last_step(tx)

    async def start_and_cancel(self) -> None:
        await self.db.execute("CREATE TABLE t (x INTEGER)")
        self.task = asyncio.create_task(self.db.write(self._work))
        assert await asyncio.to_thread(self._started.wait, 10)
        self.task.cancel()
        await asyncio.sleep(0)  # the cancellation is delivered
        assert not self.task.done() and self.db._lock.locked()  # the connection stays taken until the write ends

    async def finish(self) -> None:
        self._release.set()
        with pytest.raises(asyncio.CancelledError):
            await self.task


async def test_a_write_whose_caller_is_cancelled_still_ends_whole(migrated_db):
    write = CancelledMidWrite(migrated_db, lambda tx: tx.execute("INSERT INTO t (x) VALUES (2)"))
    await write.start_and_cancel()
    after = asyncio.create_task(migrated_db.execute("INSERT INTO t (x) VALUES (3)"))
    await write.finish()
    await after
    assert [r[0] for r in await migrated_db.fetch_all("SELECT x FROM t ORDER BY x")] == [1, 2, 3]


async def test_a_write_held_up_by_another_process_lock_is_a_fault_and_recovers(migrated_db):
    await migrated_db.execute("CREATE TABLE t (x INTEGER)")
    other = sqlite3.connect(migrated_db.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(DatabaseUnavailable) as raised:
            await migrated_db.write(lambda tx: tx.execute("INSERT INTO t (x) VALUES (1)"))
        assert raised.value.kind == "locked" and migrated_db.fault == "locked"
    finally:
        other.execute("ROLLBACK")
        other.close()
    await migrated_db.write(lambda tx: tx.execute("INSERT INTO t (x) VALUES (2)"))
    assert migrated_db.fault is None
    assert [r[0] for r in await migrated_db.fetch_all("SELECT x FROM t")] == [2]


async def test_recording_a_polled_feed_is_one_trip(repo, trips):
    feed = await repo.ensure_feed("https://example.com/feed", now=100, next_poll_at=100)
    before = trips["n"]
    queued = await repo.record_fetched(
        feed.id, now=200, next_poll_at=300, title="T", etag='"e"', last_modified=None,
        entry_keys=[f"k{n}" for n in range(50)], new_item=True, deliveries=[], prune_seen_before=0, body_hash="h",
    )
    assert (queued, trips["n"]) == (0, before + 1)
    assert await repo.known_entry_keys(feed.id, ["k0", "k49", "other"]) == {"k0", "k49"}
    assert (await repo.get_feed(feed.id)).body_hash == "h"


async def test_an_in_list_longer_than_a_chunk_is_read_in_chunks_without_repeats(migrated_db, trips):
    await migrated_db.execute("CREATE TABLE t (g INTEGER, x INTEGER)")
    await migrated_db.write(lambda tx: tx.executemany("INSERT INTO t (g, x) VALUES (?, ?)",
                                                      [(g, x) for g in (1, 2) for x in range(IN_CHUNK + 10)]))
    before = trips["n"]
    wanted = [*range(IN_CHUNK + 5), 3, 3]  # two chunks; repeats asked for once
    rows = await migrated_db.fetch_all_in("SELECT x FROM t WHERE g = ? AND x IN ({marks})", wanted, (2,))
    assert sorted(r[0] for r in rows) == list(range(IN_CHUNK + 5))
    assert trips["n"] == before + 2


def fail_as_locked(tx: SyncTransaction) -> None:
    raise sqlite3.OperationalError("database is locked")  # as a lock held past the busy timeout


async def test_a_cancelled_write_that_fails_reports_the_fault_and_stays_cancelled(migrated_db):
    write = CancelledMidWrite(migrated_db, fail_as_locked)
    await write.start_and_cancel()
    await write.finish()
    assert migrated_db.fault == "locked"
    assert (await migrated_db.fetch_one("SELECT count(*) FROM t"))[0] == 0  # rolled back
