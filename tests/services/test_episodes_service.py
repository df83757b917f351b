"""EpisodeService on a real SQLite file and a real scheduler, with an in-memory stand-in for Discord."""

import asyncio
import gc
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.domain.episodes import ScheduleImportError
from bot.errors import UserFacingError
from bot.services.episodes import (
    NOTICE_AFTER_TRANSIENT,
    RETRY_DELAYS,
    EpisodeService,
    open_job_id,
    parse_episode_ref,
    show_key,
)
from bot.services.settings import SettingsService
from db.database import Database
from db.episodes import EpisodeThread
from db.migrate import migrate

GUILD = 222
NOW = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)  # the real scheduler never fires


class MemoryThreads:
    """Discord as a dict of thread id -> state; `create_delay` widens race windows."""

    def __init__(self, kind="forum"):
        self.kind = kind
        self.threads: dict[int, str] = {}
        self.created: list[int] = []
        self.deleted: list[int] = []
        self.reopened: list[int] = []
        self.refreshed: list[int] = []
        self.members: list[tuple[int, int]] = []
        self.failures: list[BaseException] = []
        self.ids = itertools.count(1000)
        self.create_delay = 0.0
        self.deliver_notices = True
        self.fail_with: Exception | None = None
        self.refresh_delays: list[float] = []
        self.shown_votes: list[int] = []
        self.left_guilds: set[int] = set()

    async def ready(self):
        return None

    def serves_guild(self, guild_id):
        return guild_id not in self.left_guilds

    async def status(self, thread):
        return {"open": "active", "archived": "archived"}.get(self.threads.get(thread.thread_id), "missing")

    async def create(self, starter):
        await asyncio.sleep(self.create_delay)
        if self.fail_with is not None:
            raise self.fail_with
        thread_id = next(self.ids)
        self.threads[thread_id] = "open"
        self.created.append(thread_id)
        return EpisodeThread(starter.guild_id, starter.episode.id, 500, thread_id, thread_id, self.kind, "open")

    async def reopen(self, thread):
        self.threads[thread.thread_id] = "open"
        self.reopened.append(thread.thread_id)

    async def delete(self, thread):
        self.threads.pop(thread.thread_id, None)
        self.deleted.append(thread.thread_id)

    async def refresh_starter(self, thread, starter):
        if self.refresh_delays:
            await asyncio.sleep(self.refresh_delays.pop(0))
        self.refreshed.append(thread.thread_id)
        self.shown_votes.append(starter.rating.count)

    async def lock(self, thread):
        self.threads[thread.thread_id] = "archived"

    async def add_member(self, thread, user_id):
        self.members.append((thread.thread_id, user_id))

    def failure_kind(self, error):
        return error.key.removeprefix("episodes.") if isinstance(error, UserFacingError) else "unexpected"

    async def report_failure(self, guild_id, starter, kind, error, retry_at):
        self.failures.append((kind, retry_at))
        return self.deliver_notices


@pytest.fixture
async def env(tmp_path):
    db = Database(tmp_path / "svc.db")
    await db.connect()
    await migrate(db)
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.start()
    clock = {"now": NOW}
    # No pause between the threads of /show open: the tests count threads, not seconds.
    service = EpisodeService(db, scheduler, SettingsService(db), lambda: clock["now"], MemoryThreads(),
                             bulk_open_spacing=timedelta(0))
    yield service, clock
    scheduler.shutdown(wait=False)
    await db.close()


@pytest.mark.parametrize(("text", "expected"), [
    ("3", (None, 3)), ("E3", (None, 3)), ("ep 3", (None, 3)), ("S1E3", (1, 3)), ("s2 e10", (2, 10)),
    ("1x3", (1, 3)), ("season 2 episode 4", (2, 4)), ("three", None), ("", None), ("S1", None),
    ("S13", None),
])
def test_parse_episode_ref(text, expected):
    assert parse_episode_ref(text) == expected


@pytest.mark.parametrize(("title", "key"), [
    ("Trauma Code: Heroes on Call", "trauma-code-heroes-on-call"), ("중증외상센터", "중증외상센터"), ("!!!", "show"),
])
def test_show_key(title, key):
    assert show_key(title) == key


async def test_preset_of_an_aired_show_schedules_nothing(env):
    service, _ = env
    show, count, created = await service.schedules.install_preset(GUILD, "trauma-code")
    assert (count, created, show.release_pace) == (8, True, "all_at_once")
    assert [e.auto_open_pending for e in await service.lookup.episodes(show)] == [False] * 8
    assert service.jobs.scheduler.get_jobs() == []
    again, _, created_again = await service.schedules.install_preset(GUILD, "trauma-code")
    assert (again.id, created_again, len(await service.lookup.episodes(again))) == (show.id, False, 8)


async def test_future_episode_gets_a_job_that_moves_with_its_time(env):
    service, _ = env
    show = await service.schedules.add_show(GUILD, "Trauma Code", None, None, "on_air")
    episode = await service.schedules.add_episode(show, 1, 1, None, NOW + timedelta(days=2))
    assert episode.auto_open_pending
    job = service.jobs.scheduler.get_job(open_job_id(episode.id))
    assert job.next_run_time == NOW + timedelta(days=2)
    await service.schedules.schedule_episode(show, episode, NOW + timedelta(days=3))
    assert service.jobs.scheduler.get_job(open_job_id(episode.id)).next_run_time == NOW + timedelta(days=3)
    assert len(service.jobs.scheduler.get_jobs()) == 1


async def test_daily_pace_opens_one_a_day(env):
    service, _ = env
    show = await service.schedules.add_show(GUILD, "Binge", None, None, "daily")
    for number in (1, 2, 3):
        await service.schedules.add_episode(show, 1, number, None, NOW + timedelta(hours=1))
    runs = sorted(job.next_run_time for job in service.jobs.scheduler.get_jobs())
    assert runs == [NOW + timedelta(hours=1, days=d) for d in range(3)]


async def test_missed_opening_runs_at_startup_and_only_once(env):
    service, clock = env
    show = await service.schedules.add_show(GUILD, "Trauma Code", None, None, "on_air")
    episode = await service.schedules.add_episode(show, 1, 1, None, NOW + timedelta(minutes=5))
    service.jobs.scheduler.remove_all_jobs()  # the bot stopped
    clock["now"] = NOW + timedelta(hours=1)  # ...and came back an hour later
    assert await service.openings.rebuild_jobs() == 1
    for _ in range(50):
        if service.gateway.created:
            break
        await asyncio.sleep(0.02)
    assert len(service.gateway.created) == 1
    assert (await service.threads.thread(episode)).thread_id == service.gateway.created[0]
    assert await service.openings.rebuild_jobs() == 0  # nothing pending after a second restart


async def test_an_opening_job_that_fires_late_still_opens_the_thread(env):
    """The event loop or the host was stalled past the open time (the bot's scheduler skips ordinary jobs more
    than 5 min late): the opening still runs instead of leaving the episode pending with no job."""
    service, clock = env
    real_now = datetime.now(UTC)
    clock["now"] = real_now - timedelta(hours=1)  # when the job was scheduled
    show = await service.schedules.add_show(GUILD, "Night Shift", None, None, "on_air")
    episode = await service.schedules.add_episode(show, 1, 1, None, real_now - timedelta(minutes=10))
    clock["now"] = real_now
    for _ in range(50):
        if service.gateway.created:
            break
        await asyncio.sleep(0.02)
    assert len(service.gateway.created) == 1
    assert (await service.threads.thread(episode)).thread_id == service.gateway.created[0]


async def test_an_opening_for_a_server_the_bot_left_is_dropped_without_retries(env):
    service, clock = env
    real_now = datetime.now(UTC)
    clock["now"] = real_now - timedelta(hours=1)
    show = await service.schedules.add_show(GUILD, "Night Shift", None, None, "on_air")
    episode = await service.schedules.add_episode(show, 1, 1, None, real_now + timedelta(seconds=1))
    service.gateway.left_guilds.add(GUILD)
    clock["now"] = real_now + timedelta(seconds=2)
    await service.openings.run_job(episode.id)
    assert service.gateway.created == []
    assert not [job for job in service.jobs.scheduler.get_jobs() if job.id == f"episode:{episode.id}:open"
                and job.next_run_time > real_now + timedelta(minutes=1)], "no retry scheduled"


async def test_two_concurrent_requests_make_one_thread(env):
    service, _ = env
    show, _, _ = await service.schedules.install_preset(GUILD, "trauma-code")
    episode = await service.lookup.episode(show, "S1E3")
    service.gateway.create_delay = 0.05
    results = await asyncio.gather(*(service.threads.open_or_link(episode.id, may_create=True) for _ in range(3)))
    assert len(service.gateway.created) == 1
    assert sorted(r.outcome for r in results) == ["created", "linked", "linked"]
    assert {r.thread.thread_id for r in results} == {service.gateway.created[0]}


async def test_deleted_thread_is_recreated_and_archived_reopened(env):
    service, _ = env
    show, _, _ = await service.schedules.install_preset(GUILD, "trauma-code")
    episode = await service.lookup.episode(show, "2")
    first = (await service.threads.open_or_link(episode.id, may_create=True)).thread
    service.gateway.threads[first.thread_id] = "archived"
    assert (await service.threads.open_or_link(episode.id, may_create=False)).outcome == "reopened"
    del service.gateway.threads[first.thread_id]
    result = await service.threads.open_or_link(episode.id, may_create=True)
    assert result.outcome == "recreated"
    assert result.thread.thread_id != first.thread_id
    assert (await service.threads.thread(episode)).thread_id == result.thread.thread_id


async def test_neighbours_starters_are_refreshed(env):
    service, _ = env
    show, _, _ = await service.schedules.install_preset(GUILD, "trauma-code")
    e1, e2, e3 = (await service.lookup.episodes(show))[:3]
    t1 = (await service.threads.open_or_link(e1.id, may_create=True)).thread
    t3 = (await service.threads.open_or_link(e3.id, may_create=True)).thread
    assert service.gateway.refreshed == []
    await service.threads.open_or_link(e2.id, may_create=True)
    assert sorted(service.gateway.refreshed) == sorted([t1.thread_id, t3.thread_id])
    starter = await service.threads.starter_info(e2.id)
    assert starter.previous[1].thread_id == t1.thread_id and starter.next[1].thread_id == t3.thread_id


async def test_a_thread_that_cannot_be_recorded_is_deleted(env):
    service, _ = env
    show, _, _ = await service.schedules.install_preset(GUILD, "trauma-code")
    episode = await service.lookup.episode(show, "1")
    service.gateway.kind = "voice"  # violates the table's CHECK: saving fails after Discord made the thread
    with pytest.raises(Exception, match="CHECK"):
        await service.threads.open_or_link(episode.id, may_create=True)
    assert service.gateway.deleted == service.gateway.created != []
    assert await service.threads.thread(episode) is None


async def test_unaired_episode_refused_without_may_create(env):
    service, _ = env
    show = await service.schedules.add_show(GUILD, "Later", None, None, "on_air")
    episode = await service.schedules.add_episode(show, 1, 1, None, NOW + timedelta(days=1))
    assert not service.lookup.has_aired(episode)
    with pytest.raises(UserFacingError) as error:
        await service.threads.open_or_link(episode.id, may_create=False)
    assert error.value.key == "episodes.not_aired"
    assert service.gateway.created == []


@pytest.mark.parametrize(("ref", "season", "key"), [
    ("9", None, "episodes.beyond_season"), ("S2E1", None, "episodes.unknown_season"), ("x", None,
                                                                                         "episodes.bad_episode"),
])
async def test_bad_episode_references(env, ref, season, key):
    service, _ = env
    show, _, _ = await service.schedules.install_preset(GUILD, "trauma-code")
    with pytest.raises(UserFacingError) as error:
        await service.lookup.episode(show, ref, season)
    assert error.value.key == key


async def test_import_with_bad_rows_writes_nothing(env):
    service, _ = env
    show = await service.schedules.add_show(GUILD, "Imported", None, None, "on_air")
    csv = b"season,episode,title,airs\n1,1,Pilot,2026-04-01 21:00\n1,two,,2026-04-02 21:00\n1,3,,yesterday\n"
    with pytest.raises(ScheduleImportError) as error:
        await service.schedules.import_schedule(show, "s1.csv", csv)
    assert [p.line for p in error.value.problems] == [3, 4]
    assert await service.lookup.episodes(show) == []
    good = b"season,episode,title,airs\n1,1,Pilot,2026-04-01 21:00\n1,2,,2026-04-02 21:00 Asia/Seoul\n"
    assert await service.schedules.import_schedule(show, "s1.csv", good) == 2
    episodes = await service.lookup.episodes(show)
    assert [e.airs_at for e in episodes] == [datetime(2026, 4, 1, 21, 0, tzinfo=UTC),
                                              datetime(2026, 4, 2, 12, 0, tzinfo=UTC)]


async def test_ratings_progress_and_join(env):
    service, _ = env
    show, _, _ = await service.schedules.install_preset(GUILD, "trauma-code")
    e1, e2 = (await service.lookup.episodes(show))[:2]
    for user, stars in ((1, 5), (2, 4), (3, 3), (1, 4)):
        await service.ratings.rate(e1.id, user, stars)
    await service.ratings.rate(e2.id, 1, 5)
    table = await service.ratings.ratings_table(show)
    assert [(s.count, s.average) for _, s in table.rows[:2]] == [(3, pytest.approx(11 / 3)), (1, 5.0)]
    assert table.best == e1.id  # e2 has too few votes to be ranked
    assert await service.ratings.is_beyond_progress(9, show, e1)
    thread = (await service.threads.open_or_link(e2.id, may_create=True)).thread
    await service.threads.join(e2.id, 9)
    assert service.gateway.members == [(thread.thread_id, 9)]
    assert (await service.ratings.progress(9, show)).key == (1, 2)
    assert not await service.ratings.is_beyond_progress(9, show, e1)


async def _failing_episode(service, clock, error, minutes=5):
    show = await service.schedules.add_show(GUILD, "Night Shift", None, None, "on_air")
    episode = await service.schedules.add_episode(show, 1, 1, None, NOW + timedelta(minutes=minutes))
    service.gateway.fail_with = error
    clock["now"] = NOW + timedelta(minutes=minutes)  # air time: the job runs
    return show, episode


async def test_failed_opening_retries_with_capped_backoff_and_notifies_once_per_kind(env):
    service, clock = env
    _, episode = await _failing_episode(service, clock, UserFacingError("episodes.no_channel"))
    expected_waits = [*RETRY_DELAYS, RETRY_DELAYS[-1], RETRY_DELAYS[-1]]
    for wait in expected_waits:
        await service.openings.run_job(episode.id)
        job = service.jobs.scheduler.get_job(open_job_id(episode.id))
        assert job.next_run_time == clock["now"] + wait
        clock["now"] = job.next_run_time
    assert service.gateway.failures == [("no_channel", NOW + timedelta(minutes=10))]  # once, not per retry
    assert await service.repo.open_notices(GUILD) == ["no_channel"]
    assert (await service.repo.get_episode_by_id(episode.id)).auto_open_pending

    service.gateway.fail_with = None  # the admin configured the channel: the next retry goes through
    await service.openings.run_job(episode.id)
    assert len(service.gateway.created) == 1
    assert (await service.threads.thread(episode)).thread_id == service.gateway.created[0]
    assert service.jobs.scheduler.get_job(open_job_id(episode.id)) is None
    assert await service.repo.open_notices(GUILD) == []  # a later failure is reported again

    show = await service.repo.get_show_by_id(episode.show_id)
    second = await service.schedules.add_episode(show, 1, 2, None, clock["now"] + timedelta(minutes=1))
    service.gateway.fail_with = UserFacingError("episodes.no_channel")
    await service.openings.run_job(second.id)
    await service.openings.run_job(second.id)
    assert [kind for kind, _ in service.gateway.failures] == ["no_channel", "no_channel"]
    job = service.jobs.scheduler.get_job(open_job_id(second.id))
    assert job.next_run_time == clock["now"] + RETRY_DELAYS[1]  # its own backoff, from its first attempt


async def test_transient_failures_are_reported_only_when_they_persist(env):
    service, clock = env
    _, episode = await _failing_episode(service, clock, RuntimeError("503 Service Unavailable"))
    for attempt in range(1, NOTICE_AFTER_TRANSIENT + 2):
        await service.openings.run_job(episode.id)
        reported = 0 if attempt < NOTICE_AFTER_TRANSIENT else 1
        assert len(service.gateway.failures) == reported, attempt
    assert service.gateway.failures[0][0] == "unexpected"


async def test_undelivered_notice_is_tried_again_at_the_next_retry(env):
    service, clock = env
    _, episode = await _failing_episode(service, clock, UserFacingError("episodes.no_channel"))
    service.gateway.deliver_notices = False  # no log channel yet
    await service.openings.run_job(episode.id)
    await service.openings.run_job(episode.id)
    assert len(service.gateway.failures) == 2
    assert await service.repo.open_notices(GUILD) == []
    service.gateway.deliver_notices = True
    await service.openings.run_job(episode.id)
    await service.openings.run_job(episode.id)
    assert len(service.gateway.failures) == 3


async def test_a_removed_show_stops_the_retries(env):
    service, clock = env
    show, episode = await _failing_episode(service, clock, UserFacingError("episodes.no_channel"))
    await service.schedules.remove_show(show)
    await service.openings.run_job(episode.id)
    assert service.jobs.scheduler.get_jobs() == []
    assert service.gateway.failures == []


async def test_concurrent_votes_edit_the_starter_in_order_from_the_database(env):
    service, _ = env
    show, _, _ = await service.schedules.install_preset(GUILD, "trauma-code")
    episode = await service.lookup.episode(show, "S1E1")
    await service.threads.open_or_link(episode.id, may_create=True)
    service.gateway.shown_votes.clear()
    # The first vote's edit is slow: unserialized, it would land after the others and show one vote.
    service.gateway.refresh_delays = [0.1]
    first = asyncio.create_task(service.ratings.rate(episode.id, 1, 5))
    await asyncio.sleep(0.03)
    others = await asyncio.gather(*(service.ratings.rate(episode.id, user, 3) for user in (2, 3, 4)))
    await first
    assert service.gateway.shown_votes == [1, 4]  # in order; the three waiting refreshes coalesced into one
    assert all(s.rating.count == 4 for s in others)
    assert (await service.ratings.rating(episode.id)).count == 4


async def test_no_per_episode_state_is_kept_once_the_work_is_done(env):
    """Locks and starter-edit counters exist while an episode is being worked on, not for every episode ever
    touched (a long-running bot serving many servers would grow without bound)."""
    service, _ = env
    show, _, _ = await service.schedules.install_preset(GUILD, "trauma-code")
    episodes = await service.lookup.episodes(show)
    for episode in episodes:
        await service.threads.open_or_link(episode.id, may_create=True)
    service.gateway.refresh_delays = [0.2]  # the first vote's starter edit is slow: the votes stay in flight
    votes = [asyncio.create_task(service.ratings.rate(episode.id, user, 4)) for episode in episodes for user in (1, 2)]
    for _ in range(100):  # until the first vote reaches its starter edit (however slow the machine is)
        if service.threads._starter_edits:
            break
        await asyncio.sleep(0.002)
    assert service.threads._starter_edits  # votes in flight share their episode's state
    await asyncio.gather(*votes)
    await service.threads.lock(episodes[0])
    for _ in range(100):  # starter refreshes may still be finishing in the background
        gc.collect()
        if not service.threads._locks and not service.threads._starter_edits:
            break
        await asyncio.sleep(0.01)
    assert (len(service.threads._locks), len(service.threads._starter_edits)) == (0, 0)
    assert [(await service.ratings.rating(e.id)).count for e in episodes] == [2] * len(episodes)
    assert service.gateway.shown_votes[-1] == 2


async def test_open_aired_opens_each_once_and_again_opens_none(env):
    service, clock = env
    clock["now"] = datetime.now(UTC)
    show, _, _ = await service.schedules.install_preset(GUILD, "trauma-code")
    assert await service.threads.unopened_aired(show) == 8
    first = await service.threads.open_aired(show)
    assert (first.count("created"), first.error) == (8, None)
    assert [e.number for e, _ in first.results] == list(range(1, 9))
    again = await service.threads.open_aired(show)
    assert (again.count("created", "recreated"), again.count("linked")) == (0, 8)
    assert len(service.gateway.created) == 8
    assert await service.threads.unopened_aired(show) == 0


async def test_open_aired_skips_unaired_and_stops_at_a_failure(env):
    service, _ = env
    show = await service.schedules.add_show(GUILD, "Night Shift", None, None, "on_air")
    for number, days in ((1, -2), (2, -1), (3, 1)):
        await service.schedules.add_episode(show, 1, number, None, NOW + timedelta(days=days))
    service.gateway.fail_with = UserFacingError("episodes.no_channel")
    stopped = await service.threads.open_aired(show)
    assert (stopped.results, stopped.stopped_at.number, stopped.error.key) == ([], 1, "episodes.no_channel")
    service.gateway.fail_with = None
    done = await service.threads.open_aired(show)
    assert [e.number for e, _ in done.results] == [1, 2]


async def test_join_reopens_an_archived_thread_and_skips_a_locked_one(env):
    service, clock = env
    clock["now"] = datetime.now(UTC)
    show, _, _ = await service.schedules.install_preset(GUILD, "trauma-code")
    e1, e2 = (await service.lookup.episodes(show))[:2]
    t1 = (await service.threads.open_or_link(e1.id, may_create=True)).thread
    service.gateway.threads[t1.thread_id] = "archived"
    assert (await service.threads.join(e1.id, 7)).outcome == "reopened"
    assert service.gateway.reopened == [t1.thread_id]
    assert service.gateway.members == [(t1.thread_id, 7)]
    await service.threads.open_or_link(e2.id, may_create=True)
    locked = await service.threads.lock(e2)
    assert (await service.threads.join(e2.id, 7)).outcome == "locked"
    assert service.gateway.members == [(t1.thread_id, 7)]  # not added to the locked thread...
    assert (await service.ratings.progress(7, show)).key == (1, 2)  # ...but progress moves up
    assert locked.thread_id not in service.gateway.reopened


async def test_locking_a_thread_deleted_in_discord_says_there_is_none(env):
    service, _ = env
    show, _, _ = await service.schedules.install_preset(GUILD, "trauma-code")
    episode = await service.lookup.episode(show, "S1E5")
    thread = (await service.threads.open_or_link(episode.id, may_create=True)).thread
    del service.gateway.threads[thread.thread_id]
    with pytest.raises(UserFacingError) as error:
        await service.threads.lock(episode)
    assert error.value.key == "episodes.no_thread"
