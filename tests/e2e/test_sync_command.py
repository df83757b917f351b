"""`codeblue sync` only syncs: run as a process while the bot serves the same database, it changes no row."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys

from db.watchparties import WatchPartyRepository
from tests.e2e.member_steps import create_party, set_up_watch_parties

TIMEOUT = 60


def _snapshot(path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {table: sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)  # noqa: S608
                for table in tables}
    finally:
        conn.close()


async def _sync(fake, db_path, cwd) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "CODEBLUE_"))}
    env.update(DISCORD_TOKEN=fake.token, DISCORD_API_BASE=fake.api_base, CODEBLUE_DB=str(db_path),
               CODEBLUE_WEB_PORT="off")
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "sync", cwd=cwd, env=env,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, stderr = await asyncio.wait_for(process.communicate(), TIMEOUT)
    assert process.returncode is not None
    return process.returncode, stderr.decode()


async def test_sync_while_the_bot_runs_changes_no_row(fake, runner, tmp_path):
    bot = await runner.start()
    guild = fake.default_guild
    await set_up_watch_parties(fake, guild)
    party_id = (await create_party(fake, guild, guild.member("fan1"), "Episode 7", "in 3 days")).id
    # A reminder in flight, as the running bot leaves it right before it posts one.
    repo = WatchPartyRepository(bot.db)
    [reminder, *_] = await repo.reminders(party_id)
    assert await repo.claim_reminder(party_id, reminder.offset_seconds, late=False)
    before = _snapshot(runner.db_path)
    syncs, identifies = fake.sync_count, fake.gateway.identify_count

    code, stderr = await _sync(fake, runner.db_path, tmp_path)

    assert code == 0, stderr
    assert fake.sync_count == syncs + 1, "the commands were pushed"
    assert fake.gateway.identify_count == identifies, "sync needs no gateway connection"
    assert _snapshot(runner.db_path) == before
    assert bot.is_ready()


async def test_sync_on_a_new_database_creates_nothing_but_still_syncs(fake, tmp_path):
    code, stderr = await _sync(fake, tmp_path / "new.db", tmp_path)
    assert code == 0, stderr
    assert fake.sync_count == 1
    assert _snapshot(tmp_path / "new.db") == {}
