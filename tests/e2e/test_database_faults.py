"""Database faults, end to end: a full disk, a read-only database and a long lock held by another process.

For each: the bot logs one clear line, tells admins in the log channel, refuses changes with a short message in
the member's language (never the generic error), keeps answering what it only has to read, loses nothing it had
confirmed, and recovers by itself (no restart) once the fault clears; `PRAGMA integrity_check` is ok after.

The full disk is real: the database lives on a small tmpfs (we run as root here and in CI) filled up with a
ballast file; without the right to mount, SQLite's `max_page_count` stands in for it. A read-only file system
cannot be remounted under a file open for writing (EBUSY), so read-only is SQLite's own `query_only` switch on the
bot's connection, which fails writes with the same SQLITE_READONLY a read-only file gives. The lock is a real
second process holding a write transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.harness import BotRunner
from tests.e2e.member_steps import answer, create_party, party_id_of, reply, set_timezone

DOWN_EN = "I cannot save anything right now"
DOWN_KO = "지금은 아무것도 저장할 수 없어요"
UNEXPECTED = ("Something went wrong on my side", "제 쪽에서 문제가 생겼어요")
MESSAGES = "/channels/{channel_id}/messages"


class SmallDisk:
    """A 4 MB tmpfs for the database, filled and freed on demand (or max_page_count where mounting fails)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.mounted = False
        self.ballast = folder / "ballast"
        self._pages: int | None = None

    def mount(self) -> None:
        self.folder.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(self.folder)],  # noqa: S603, S607
                                capture_output=True, check=False)
        self.mounted = result.returncode == 0

    def unmount(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.folder)], capture_output=True, check=False)  # noqa: S603, S607

    async def fill(self, bot) -> None:
        if not self.mounted:
            row = await bot.db.fetch_one("PRAGMA page_count")
            await bot.db.execute(f"PRAGMA max_page_count = {row[0]}")
            return
        # An idle bot's WAL is checkpointed and reused in place; a truncated one must grow for the next write.
        await bot.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        fd = os.open(self.ballast, os.O_WRONLY | os.O_CREAT)
        try:
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * 65536)
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * 512)
        finally:
            os.close(fd)

    async def free(self, bot) -> None:
        if not self.mounted:
            await bot.db.execute("PRAGMA max_page_count = 1073741823")
            return
        self.ballast.unlink()


@pytest.fixture
async def disk(tmp_path):
    small = SmallDisk(tmp_path / "disk")
    small.mount()
    try:
        yield small
    finally:
        small.unmount()


@pytest.fixture
async def bot_on(fake, disk):
    runner = BotRunner(fake, disk.folder / "codeblue.db", env={"CODEBLUE_FEED_PARSE_PROCESSES": "0"})
    try:
        yield runner
    finally:
        await runner.stop()


def fault_lines(caplog, text: str) -> list[str]:
    """The database's lines about faults; and no other error logged meanwhile (no traceback per statement)."""
    others = [f"{r.name}: {r.getMessage()}" for r in caplog.records
              if r.levelno >= logging.ERROR and r.name != "db.database"]
    assert others == []
    return [r.getMessage() for r in caplog.records if r.name == "db.database" and text in r.getMessage()]


async def configured(fake, runner):
    """The bot started, a log channel set, one party created (a change the bot confirmed)."""
    bot = await runner.start()
    g = fake.default_guild
    await answer(fake, g, g.member("admin"), "config channel", kind="log", channel=g.channel("bot-log"))
    _, announcement = await create_party(fake, g, g.member("fan1"), title="Before the fault", when="in 3 hours")
    return bot, g, party_id_of(announcement)


async def log_notice(fake, g, text: str, since: int) -> None:
    await fake.wait_for_request("POST", MESSAGES, lambda r: r.params["channel_id"] == str(g.channel("bot-log").id)
                                and text in (r.json or {}).get("content", ""), since=since, timeout=5)


async def still_reads(fake, g, party_id: int) -> None:
    """What only reads keeps working: /watchparty list shows the party confirmed before the fault, /help answers."""
    listed = await reply(fake, g, g.member("fan2"), "watchparty list")
    shown = (listed.get("content") or "") + repr(listed.get("embeds"))
    assert "Before the fault" in shown or f"#{party_id}" in shown, shown
    await reply(fake, g, g.member("fan2"), "help")


async def integrity_ok(bot, party_id: int) -> None:
    assert (await bot.db.fetch_one("PRAGMA integrity_check"))[0] == "ok"
    assert await bot.db.fetch_one("SELECT id FROM watch_parties WHERE id = ?", (party_id,)) is not None


async def test_a_full_disk_refuses_changes_clearly_keeps_reading_and_recovers_when_space_is_freed(
        fake, bot_on, disk, caplog):
    caplog.set_level(logging.WARNING)
    caplog.set_level(logging.INFO, logger="db.database")
    bot, g, party_id = await configured(fake, bot_on)
    mark = fake.mark()
    await disk.fill(bot)

    said = await set_timezone(fake, g, g.member("fan1"))
    assert said.startswith(f"{DOWN_EN}: my storage is full. Nothing was changed"), said
    said = await set_timezone(fake, g, g.member("fan2"), locale="ko")
    assert said.startswith(f"{DOWN_KO}: 저장 공간이 가득 찼어요"), said
    assert len(fault_lines(caplog, "database unavailable: the disk is full")) == 1
    await log_notice(fake, g, "I cannot write to my database: my storage is full", mark)
    await still_reads(fake, g, party_id)
    assert await bot.db.fetch_one("SELECT 1 FROM member_timezones WHERE user_id = ?",
                                  (g.member("fan1").id,)) is None

    await disk.free(bot)
    said = await set_timezone(fake, g, g.member("fan1"))
    assert said.startswith("Your time zone is now Asia/Seoul"), said
    assert len(fault_lines(caplog, "database writable again")) == 1
    await log_notice(fake, g, "My database can be written again", mark)
    await integrity_ok(bot, party_id)


async def test_a_read_only_database_refuses_changes_and_recovers_when_writable_again(fake, bot_on, caplog):
    caplog.set_level(logging.WARNING)
    caplog.set_level(logging.INFO, logger="db.database")
    bot, g, party_id = await configured(fake, bot_on)
    mark = fake.mark()
    await bot.db.execute("PRAGMA query_only = ON")  # writes now fail with SQLITE_READONLY

    said = await set_timezone(fake, g, g.member("fan1"))
    assert said.startswith(f"{DOWN_EN}: my storage is read-only"), said
    ix = await fake.slash(g, g.member("fan1"), "watchparty create", title="During the fault", when="in 4 hours")
    assert (await ix.response(timeout=fake.interaction_deadline + 0.5)).type in (4, 5)
    texts = [(await ix.response()).content or "", *[m.get("content") or "" for m in ix.followup_messages]]
    if (await ix.response()).type == 5:
        texts += [m.get("content") or "" for m in await ix.followups(1)]
    assert any(DOWN_EN in t for t in texts) and not any(u in t for t in texts for u in UNEXPECTED), texts
    assert len(fault_lines(caplog, "database unavailable: the database file or its file system is read-only")) == 1
    await log_notice(fake, g, "I cannot write to my database: my storage is read-only", mark)
    await still_reads(fake, g, party_id)

    await bot.db.execute("PRAGMA query_only = OFF")
    said = await set_timezone(fake, g, g.member("fan1"))
    assert said.startswith("Your time zone is now Asia/Seoul"), said
    await log_notice(fake, g, "My database can be written again", mark)
    await integrity_ok(bot, party_id)
    assert await bot.db.fetch_one("SELECT 1 FROM watch_parties WHERE title = 'During the fault'") is None


LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
"""


async def test_a_long_lock_by_another_process_keeps_reads_answered_and_writes_refused_in_time(
        fake, bot_on, caplog):
    caplog.set_level(logging.WARNING)
    caplog.set_level(logging.INFO, logger="db.database")
    bot, g, party_id = await configured(fake, bot_on)
    mark = fake.mark()
    locker = await asyncio.create_subprocess_exec(sys.executable, "-c", LOCKER, str(bot.db.path),
                                                  stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    try:
        assert locker.stdout is not None and locker.stdin is not None
        assert (await asyncio.wait_for(locker.stdout.readline(), 10)).strip() == b"locked"
        # A write waits (2 s) for the lock; meanwhile a read is answered at once: it does not queue behind it.
        write = asyncio.ensure_future(set_timezone(fake, g, g.member("fan1")))
        ix = await fake.slash(g, g.member("fan2"), "watchparty list")
        listed = await ix.response(timeout=fake.interaction_deadline + 0.5)
        assert not write.done()
        assert "Before the fault" in repr(listed.embeds) + (listed.content or "")
        said = await write  # refused within Discord's deadline for an answer (the fake fails a later one)
        await still_reads(fake, g, party_id)
        assert said.startswith(f"{DOWN_EN}: my storage is locked by another program"), said
        assert len(fault_lines(caplog, "database unavailable: another process holds a write lock")) == 1
        await log_notice(fake, g, "I cannot write to my database: my storage is locked", mark)
    finally:
        if locker.returncode is None:
            locker.stdin.write(b"\n")
            await locker.stdin.drain()
            await asyncio.wait_for(locker.wait(), 10)

    said = await set_timezone(fake, g, g.member("fan1"))
    assert said.startswith("Your time zone is now Asia/Seoul"), said
    await log_notice(fake, g, "My database can be written again", mark)
    await integrity_ok(bot, party_id)
    with sqlite3.connect(bot.db.path) as other:  # what the bot confirmed is on disk for any reader
        assert other.execute("SELECT timezone FROM member_timezones WHERE user_id = ?",
                             (g.member("fan1").id,)).fetchone() == ("Asia/Seoul",)
