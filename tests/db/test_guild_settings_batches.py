"""GuildSettingsRepository's batch operations (what start-up uses for thousands of servers) on a real SQLite file."""

from db.guilds import GuildSettingsRepository

REPOSITORY = GuildSettingsRepository  # what `repo` is (tests/db/conftest.py)


async def test_ensure_many_creates_only_the_missing_settings_and_keeps_existing_ones(repo):
    await repo.update(2, timezone="Europe/Paris")
    assert await repo.ensure_many([1, 2, 3]) == 2
    assert (await repo.get(2)).timezone == "Europe/Paris"
    assert await repo.db.fetch_one("SELECT 1 FROM guild_settings WHERE guild_id = 3") is not None
    assert await repo.ensure_many([1, 2, 3]) == 0
    assert await repo.ensure_many([]) == 0


async def test_ensure_many_takes_thousands_of_servers_in_one_call(repo):
    ids = list(range(10_000, 13_000))
    assert await repo.ensure_many(ids) == 3_000
    row = await repo.db.fetch_one("SELECT COUNT(DISTINCT created_at) AS stamps, COUNT(*) AS n FROM guild_settings")
    assert (row["n"], row["stamps"]) == (3_000, 1), "one transaction, one moment"


async def test_without_guide_lists_servers_never_welcomed_across_chunks(repo):
    ids = list(range(1, 1_201))  # more than one IN (...) chunk
    await repo.ensure_many(ids)
    for welcomed in (5, 600, 1_200):
        await repo.update(welcomed, guide_posted_at="2025-01-01T00:00:00+00:00")
    assert await repo.without_guide([*ids, 99_999]) == (set(ids) - {5, 600, 1_200}) | {99_999}
    assert await repo.without_guide([]) == set()
