"""EpisodeRepository on a real temporary SQLite file."""

from datetime import UTC, datetime, timedelta

import pytest

from db.episodes import DuplicateShow, EpisodeRepository, EpisodeRow, EpisodeThread, SeasonRow

REPOSITORY = EpisodeRepository  # what `repo` is (tests/db/conftest.py)

AIRS = datetime(2025, 1, 24, 8, 0, tzinfo=UTC)
GUILD = 111


async def _show(repo, episodes=3, **kwargs):
    rows = [EpisodeRow(1, n, None, AIRS) for n in range(1, episodes + 1)]
    show, created = await repo.add_show(GUILD, "trauma-code", "Trauma Code: Heroes on Call", "중증외상센터",
                                        "Trauma Code", "all_at_once", rows, **kwargs)
    return show, created


def _thread(episode_id, thread_id=900, kind="forum"):
    return EpisodeThread(GUILD, episode_id, 500, thread_id, thread_id, kind, "open")


async def test_add_show_with_episodes_and_read_back(repo):
    show, created = await _show(repo)
    assert created
    assert (show.key, show.original_title, show.release_pace) == ("trauma-code", "중증외상센터", "all_at_once")
    episodes = await repo.list_episodes(show.id)
    assert [(e.season, e.number, e.airs_at, e.auto_open_pending) for e in episodes] == [
        (1, n, AIRS, False) for n in (1, 2, 3)]
    assert await repo.get_show(GUILD, "trauma-code") == show
    assert await repo.get_show(GUILD + 1, "trauma-code") is None


async def test_duplicate_key_refused_unless_replacing(repo):
    await _show(repo)
    with pytest.raises(DuplicateShow):
        await _show(repo)
    show, created = await _show(repo, episodes=4, replace=True)
    assert not created
    assert len(await repo.list_episodes(show.id)) == 4
    assert len(await repo.list_shows(GUILD)) == 1


async def test_upsert_keeps_title_and_time_when_not_given_and_sets_pending(repo):
    show, _ = await _show(repo)
    later = AIRS + timedelta(days=7)
    await repo.upsert_episodes(show.id, [EpisodeRow(1, 2, "Golden hour", later, auto_open=True)])
    await repo.upsert_episodes(show.id, [EpisodeRow(1, 2, None, None)])
    episode = await repo.get_episode(show.id, 1, 2)
    assert (episode.title, episode.airs_at, episode.auto_open_pending) == ("Golden hour", later, True)
    assert [s.id for s in await repo.pending_shows()] == [show.id]


async def test_one_thread_row_per_episode_and_replacing_a_deleted_one(repo):
    show, _ = await _show(repo)
    episode = await repo.get_episode(show.id, 1, 1)
    await repo.upsert_episodes(show.id, [EpisodeRow(1, 1, None, None, auto_open=True)])
    assert await repo.save_thread(_thread(episode.id, 900))
    assert not await repo.save_thread(_thread(episode.id, 901))  # UNIQUE (episode): the first one stays
    assert (await repo.get_thread(episode.id)).thread_id == 900
    assert not (await repo.get_episode_by_id(episode.id)).auto_open_pending
    assert await repo.save_thread(_thread(episode.id, 902), replaces=900)
    assert (await repo.get_thread(episode.id)).thread_id == 902
    await repo.set_thread_state(episode.id, "locked")
    assert (await repo.get_thread(episode.id)).state == "locked"


async def test_one_vote_per_member_changeable(repo):
    show, _ = await _show(repo)
    e1, e2 = (await repo.list_episodes(show.id))[:2]
    await repo.set_rating(e1.id, 1, 5)
    await repo.set_rating(e1.id, 2, 3)
    await repo.set_rating(e1.id, 2, 4)  # changed
    await repo.set_rating(e2.id, 1, 2)
    assert await repo.rating_histograms([e1.id, e2.id]) == {e1.id: {5: 1, 4: 1}, e2.id: {2: 1}}
    row = await repo.db.fetch_one("SELECT stars FROM episode_ratings WHERE episode_id = ? AND user_id = 2", (e1.id,))
    assert row["stars"] == 4


async def test_progress_set_and_only_forward(repo):
    show, _ = await _show(repo)
    await repo.set_progress(GUILD, 7, show.id, 1, 3)
    await repo.set_progress(GUILD, 7, show.id, 1, 2, only_forward=True)
    assert (await repo.get_progress(7, show.id)).key == (1, 3)
    await repo.set_progress(GUILD, 7, show.id, 1, 1)  # /progress set may move back
    assert (await repo.get_progress(7, show.id)).key == (1, 1)
    [(listed_show, progress)] = await repo.list_progress(GUILD, 7)
    assert (listed_show.id, progress.key) == (show.id, (1, 1))


async def test_removing_a_show_cascades_to_its_rows(repo):
    show, _ = await _show(repo)
    episode = await repo.get_episode(show.id, 1, 1)
    await repo.save_thread(_thread(episode.id))
    await repo.set_rating(episode.id, 1, 5)
    await repo.set_progress(GUILD, 1, show.id, 1, 1)
    assert await repo.remove_show(show.id)
    for table in ("episodes", "episode_threads", "episode_ratings", "episode_progress"):
        row = await repo.db.fetch_one(f"SELECT COUNT(*) AS n FROM {table}")  # noqa: S608
        assert row["n"] == 0, table


async def test_bad_values_are_refused_by_the_schema(repo):
    show, _ = await _show(repo)
    episode = await repo.get_episode(show.id, 1, 1)
    with pytest.raises(Exception, match="CHECK"):
        await repo.set_rating(episode.id, 1, 6)
    with pytest.raises(Exception, match="CHECK"):
        await repo.save_thread(_thread(episode.id, kind="voice"))
    assert await repo.get_thread(episode.id) is None


async def test_failed_openings_count_and_notices_once_per_kind_until_a_thread_opens(repo):
    show, _ = await _show(repo, episodes=2)
    e1, _ = await repo.list_episodes(show.id)
    await repo.upsert_episodes(show.id, [EpisodeRow(1, n, None, None, auto_open=True) for n in (1, 2)])
    assert [await repo.record_open_failure(e1.id) for _ in range(3)] == [1, 2, 3]
    assert await repo.failed_openings(GUILD) == [e1.id]
    assert await repo.failed_openings(GUILD + 1) == []
    assert await repo.claim_open_notice(GUILD, "no_channel")
    assert not await repo.claim_open_notice(GUILD, "no_channel")
    assert await repo.claim_open_notice(GUILD, "forbidden")
    assert await repo.claim_open_notice(GUILD + 1, "no_channel")  # per server
    await repo.release_open_notice(GUILD, "forbidden")
    assert await repo.open_notices(GUILD) == ["no_channel"]
    assert await repo.save_thread(_thread(e1.id))
    assert await repo.open_notices(GUILD) == []
    assert await repo.open_notices(GUILD + 1) == ["no_channel"]
    assert await repo.failed_openings(GUILD) == []
    assert await repo.record_open_failure(e1.id) == 1  # the count restarted at the success


async def test_seasons_are_saved_with_their_episodes_in_one_go_and_removed_with_them(repo):
    show, _ = await _show(repo, platform="Netflix", seasons=[SeasonRow(1, AIRS, 3)])
    assert show.platform == "Netflix"
    later = AIRS + timedelta(days=400)
    season = await repo.save_season(show.id, SeasonRow(2, None, 3, "daily"),
                                    [EpisodeRow(2, n, None, None) for n in (1, 2, 3)])
    assert (season.number, season.premiere_at, season.episode_count, season.release_pace) == (2, None, 3, "daily")
    season = await repo.save_season(show.id, SeasonRow(2, later, 2, None), air_times=[(1, later), (2, later)],
                                    remove_from=3)
    assert (season.premiere_at, season.episode_count, season.release_pace) == (later, 2, None)
    assert [(e.number, e.airs_at) for e in await repo.list_episodes(show.id, 2)] == [(1, later), (2, later)]
    await repo.set_season_announcement(season.id, 10, 20)
    await repo.set_season_event(season.id, 30)
    stored = await repo.get_season(show.id, 2)
    assert (stored.announcement_channel_id, stored.announcement_message_id, stored.scheduled_event_id) == (10, 20, 30)
    assert [s.number for s in await repo.list_seasons(show.id)] == [1, 2]
    await repo.remove_season(show.id, 2)
    assert await repo.get_season(show.id, 2) is None and await repo.list_episodes(show.id, 2) == []
    assert len(await repo.list_episodes(show.id, 1)) == 3
    # Re-installing keeps a platform it is not given.
    again, created = await _show(repo, replace=True)
    assert not created and again.platform == "Netflix"
