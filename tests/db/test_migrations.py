import asyncio
import sqlite3

import pytest

from bot.errors import DatabaseError
from db.database import Database, backup_database
from db.guilds import BotStateRepository, GuildSettingsRepository
from db.migrate import Migration, current_version, load_migrations, migrate, split_statements

MIGRATIONS = load_migrations()
LATEST = MIGRATIONS[-1].version


@pytest.fixture
async def db(tmp_path):
    database = Database(tmp_path / "bot.db")
    await database.connect()
    yield database
    await database.close()


def _schema(path):
    conn = sqlite3.connect(path)
    try:
        return sorted(conn.execute("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"))
    finally:
        conn.close()


async def test_fresh_database_gets_every_migration(db):
    assert await migrate(db) == LATEST
    rows = await db.fetch_all("SELECT version FROM schema_migrations ORDER BY version")
    assert [r["version"] for r in rows] == [m.version for m in MIGRATIONS]
    assert await migrate(db) == LATEST  # idempotent


@pytest.mark.parametrize("start", [m.version for m in MIGRATIONS[:-1]])
async def test_upgrade_from_every_earlier_version_matches_fresh(tmp_path, start):
    fresh = Database(tmp_path / "fresh.db")
    await fresh.connect()
    await migrate(fresh)
    await fresh.close()

    old = Database(tmp_path / "old.db")
    await old.connect()
    assert await migrate(old, target=start) == start
    await old.execute("INSERT INTO guild_settings (guild_id, created_at, updated_at) VALUES (1, 'x', 'x')")
    assert await migrate(old) == LATEST
    row = await old.fetch_one("SELECT guild_id FROM guild_settings")
    await old.close()
    assert row["guild_id"] == 1  # data kept
    assert _schema(tmp_path / "old.db") == _schema(tmp_path / "fresh.db")


async def test_newer_database_is_refused_untouched(db, tmp_path):
    await migrate(db)
    await db.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future', 'x')",
                     (LATEST + 1,))
    before = _schema(db.path)
    with pytest.raises(DatabaseError, match="newer Code Blue"):
        await migrate(db)
    assert _schema(db.path) == before


async def test_failed_migration_leaves_nothing(db):
    broken = [*MIGRATIONS, Migration(LATEST + 1, "broken", "CREATE TABLE t1 (x INTEGER);\nCREATE TABLE t1 (y);\n")]
    await migrate(db)
    with pytest.raises(sqlite3.OperationalError):
        await migrate(db, broken)
    assert await current_version(db) == LATEST
    assert await db.fetch_one("SELECT name FROM sqlite_master WHERE name = 't1'") is None


def test_split_statements_keeps_triggers_whole():
    script = """-- comment
CREATE TABLE a (x);
CREATE TRIGGER tr AFTER INSERT ON a BEGIN
  UPDATE a SET x = 1; UPDATE a SET x = 2;
END;
-- trailing comment
"""
    parts = split_statements(script)
    assert len(parts) == 2
    assert parts[1].startswith("CREATE TRIGGER") and parts[1].endswith("END;")


async def test_pragmas(db):
    assert (await db.fetch_one("PRAGMA journal_mode"))[0] == "wal"
    assert (await db.fetch_one("PRAGMA foreign_keys"))[0] == 1
    assert (await db.fetch_one("PRAGMA busy_timeout"))[0] == 2000


async def test_unwritable_path_is_a_clear_error(tmp_path):
    with pytest.raises(DatabaseError, match="CODEBLUE_DB"):
        await Database(tmp_path / "missing" / "bot.db").connect()


async def test_guild_settings_roundtrip(db):
    await migrate(db)
    repo = GuildSettingsRepository(db)
    settings, created = await repo.ensure(42)
    assert created and settings.timezone == "UTC" and settings.reminder_offsets == "1d 1h 10m 0"
    _, created_again = await repo.ensure(42)
    assert not created_again
    updated = await repo.update(42, news_channel_id=7, timezone="Asia/Seoul")
    assert updated.news_channel_id == 7 and updated.timezone == "Asia/Seoul"
    with pytest.raises(ValueError, match="not a guild setting"):
        await repo.update(42, created_at="x")
    state = BotStateRepository(db)
    assert await state.get("k") is None
    await state.set("k", "v1")
    await state.set("k", "v2")
    assert await state.get("k") == "v2"


async def test_backup_while_open(db, tmp_path):
    await migrate(db)
    await GuildSettingsRepository(db).ensure(99)
    target = tmp_path / "copy.db"
    backup_database(db.path, target)
    conn = sqlite3.connect(target)
    assert conn.execute("SELECT guild_id FROM guild_settings").fetchall() == [(99,)]
    conn.close()
    with pytest.raises(DatabaseError, match="already exists"):
        backup_database(db.path, target)


async def test_migration_merged_out_of_order_is_still_applied(db):
    """A database that has 1 and 3 (2 landed later, from another branch of work) gets 2 applied."""
    first, second, third = (
        Migration(1, "a", "CREATE TABLE a (x);"),
        Migration(2, "b", "CREATE TABLE b (x);"),
        Migration(3, "c", "CREATE TABLE c (x);"),
    )
    assert await migrate(db, [first, third]) == 3
    assert await migrate(db, [first, second, third]) == 3
    assert await db.fetch_one("SELECT name FROM sqlite_master WHERE name = 'b'") is not None
    rows = await db.fetch_all("SELECT version FROM schema_migrations ORDER BY version")
    assert [r["version"] for r in rows] == [1, 2, 3]


async def test_unknown_applied_version_is_refused(db):
    await migrate(db, [Migration(1, "a", "CREATE TABLE a (x);"), Migration(5, "e", "CREATE TABLE e (x);")])
    with pytest.raises(DatabaseError, match="newer Code Blue"):
        await migrate(db, [Migration(1, "a", "CREATE TABLE a (x);")])


async def test_a_failed_commit_leaves_the_connection_usable(db):
    """COMMIT can fail (here: a deferred foreign key); the transaction must not stay open and swallow later writes."""
    await db.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    await db.execute("CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER "
                     "REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)")
    with pytest.raises(sqlite3.IntegrityError):
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO child (id, parent_id) VALUES (1, 42)")
    assert not db.connection.in_transaction
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO parent (id) VALUES (7)")
    await db.execute("INSERT INTO parent (id) VALUES (8)")
    path = db.path
    await db.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT id FROM parent ORDER BY id").fetchall() == [(7,), (8,)]
        assert conn.execute("SELECT COUNT(*) FROM child").fetchone() == (0,)
    finally:
        conn.close()


async def test_a_transaction_cancelled_during_commit_keeps_the_committed_write(db):
    """Shutdown may cancel a job while its COMMIT runs: the write stays, and the connection is not left open."""
    await db.execute("CREATE TABLE t (x INTEGER)")
    entered = asyncio.Event()

    async def writer():
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t (x) VALUES (1)")
            entered.set()
            await asyncio.sleep(0)  # the block ends right after: the cancel below lands on the COMMIT

    task = asyncio.create_task(writer())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not db.connection.in_transaction
    rows = await db.fetch_all("SELECT x FROM t")
    assert [r["x"] for r in rows] in ([1], [])  # committed, or rolled back if the cancel came before COMMIT
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO t (x) VALUES (2)")
    assert (await db.fetch_one("SELECT MAX(x) AS m FROM t"))["m"] == 2
