"""Seasons and premiere countdowns in the episode service (real SQLite and scheduler, Discord in memory): episodes
follow their season's premiere unless scheduled on their own; Discord failures never undo a season change; an
opened thread is linked from its season's announcement; the opening jobs follow the premiere."""

from datetime import timedelta

import pytest

from bot.errors import UserFacingError
from bot.services.episodes import open_job_id
from tests.services.episode_service_env import GUILD, NOW, episode_service


class MemoryPremieres:
    def __init__(self):
        self.posts: dict[int, list] = {}
        self.events: dict[int, object] = {}
        self.fail = False
        self.ids = iter(range(7000, 8000))

    async def post_announcement(self, info):
        if self.fail:
            raise RuntimeError("Discord is down")
        message_id = next(self.ids)
        self.posts[message_id] = [info]
        return 600, message_id

    async def edit_announcement(self, channel_id, message_id, info):
        if message_id not in self.posts:
            return False
        self.posts[message_id].append(info)
        return True

    async def create_event(self, info):
        if self.fail:
            raise RuntimeError("Discord is down")
        event_id = next(self.ids)
        self.events[event_id] = info.season.premiere_at
        return event_id

    async def edit_event(self, event_id, info):
        if event_id not in self.events:
            return False
        self.events[event_id] = info.season.premiere_at
        return True

    async def delete_event(self, guild_id, event_id):
        del self.events[event_id]


@pytest.fixture
async def env(tmp_path):
    premieres = MemoryPremieres()
    async with episode_service(tmp_path, premiere_gateway=premieres) as (service, _):
        show = await service.schedules.add_show(GUILD, "Night Shift", None, None, "all_at_once")
        yield service, premieres, show


async def test_episodes_follow_the_premiere_unless_scheduled_on_their_own(env):
    service, premieres, show = env
    first = NOW + timedelta(days=10)
    await service.seasons.add(show, 1, first, 3, None)
    episodes = await service.lookup.episodes(show)
    assert [e.airs_at for e in episodes] == [first] * 3
    assert [service.jobs.scheduler.get_job(open_job_id(e.id)).next_run_time for e in episodes] == [first] * 3
    special = first + timedelta(days=3)
    await service.schedules.schedule_episode(show, episodes[2], special)
    moved = first + timedelta(days=1)
    await service.seasons.edit(show, 1, premiere=moved, episodes=4)
    episodes = await service.lookup.episodes(show)
    assert [e.airs_at for e in episodes] == [moved, moved, special, moved]
    assert list(premieres.events.values()) == [moved]
    # Withdrawn: the episodes that followed it lose their time and their jobs; the event goes.
    await service.seasons.edit(show, 1, premiere=None)
    episodes = await service.lookup.episodes(show)
    assert [e.airs_at for e in episodes] == [None, None, special, None]
    assert [service.jobs.exists(e.id) for e in episodes] == [False, False, True, False]
    assert premieres.events == {}
    [shown] = premieres.posts.values()
    assert [info.state for info in shown][-1] == "withdrawn"


async def test_discord_failures_keep_the_season_and_the_next_change_tries_again(env):
    service, premieres, show = env
    premieres.fail = True
    premiere = NOW + timedelta(days=5)
    season = await service.seasons.add(show, 1, premiere, 2, "daily")
    assert (season.premiere_at, season.release_pace, season.scheduled_event_id) == (premiere, "daily", None)
    premieres.fail = False
    await service.seasons.edit(show, 1, premiere=premiere + timedelta(hours=1))
    stored = await service.repo.get_season(show.id, 1)
    assert stored.announcement_message_id in premieres.posts and stored.scheduled_event_id in premieres.events
    jobs = [service.jobs.scheduler.get_job(open_job_id(e.id)).next_run_time
            for e in await service.lookup.episodes(show)]
    assert jobs == [premiere + timedelta(hours=1), premiere + timedelta(days=1, hours=1)]  # the season's own pace


async def test_an_opened_thread_is_linked_from_its_seasons_announcement(env):
    service, premieres, show = env
    await service.seasons.add(show, 1, NOW + timedelta(days=1), 2, None)
    [_, episode] = await service.lookup.episodes(show)
    result = await service.threads.open_or_link(episode.id, may_create=True)
    [shown] = premieres.posts.values()
    assert [(e.number, t.thread_id) for e, t in shown[-1].threads] == [(2, result.thread.thread_id)]
    with pytest.raises(UserFacingError) as raised:
        await service.seasons.edit(show, 1, episodes=1)
    assert (raised.value.key, raised.value.params["highest"]) == ("episodes.count_below_threads", 2)
    assert len(await service.lookup.episodes(show)) == 2


async def test_a_post_or_event_deleted_in_discord_is_made_again_when_the_date_moves(env):
    service, premieres, show = env
    premiere = NOW + timedelta(days=3)
    await service.seasons.add(show, 1, premiere, None, None)
    premieres.posts.clear()
    premieres.events.clear()
    await service.seasons.edit(show, 1, premiere=premiere + timedelta(days=1))
    stored = await service.repo.get_season(show.id, 1)
    assert list(premieres.posts) == [stored.announcement_message_id]
    assert premieres.events == {stored.scheduled_event_id: premiere + timedelta(days=1)}
