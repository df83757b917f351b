"""Automatic openings in the episode service: a job per pending episode at its open time (moved with the
time and the pace), missed ones opened once at start-up, late jobs still run, servers the bot left skipped,
and failures retried with a capped backoff and reported to admins once per kind."""

import asyncio
from datetime import UTC, datetime, timedelta

from bot.errors import UserFacingError
from bot.services.episodes import (
    NOTICE_AFTER_TRANSIENT,
    RETRY_DELAYS,
    open_job_id,
)
from tests.services import episode_service_env
from tests.services.episode_service_env import GUILD, NOW

env = episode_service_env.env  # the shared fixture


async def test_preset_of_an_aired_show_schedules_nothing(env):
    service, _ = env
    installed = await service.schedules.install_preset(GUILD, "trauma-code")
    show, count, created = installed.show, installed.count, installed.created
    assert (count, created, show.release_pace) == (8, True, "all_at_once")
    assert [e.auto_open_pending for e in await service.lookup.episodes(show)] == [False] * 8
    assert service.jobs.scheduler.get_jobs() == []
    rerun = await service.schedules.install_preset(GUILD, "trauma-code")
    again, created_again = rerun.show, rerun.created
    assert (again.id, created_again, len(await service.lookup.episodes(again))) == (show.id, False, 8)
    assert not rerun.changes.any


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
    for _ in range(500):  # up to 10 s: a loaded machine is slow, a passing run never waits that long
        if service.gateway.created and await service.threads.thread(episode) is not None:
            break  # made and recorded (the row is written after Discord answered)
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
    for _ in range(500):  # up to 10 s: a loaded machine is slow, a passing run never waits that long
        if service.gateway.created and await service.threads.thread(episode) is not None:
            break  # made and recorded (the row is written after Discord answered)
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
