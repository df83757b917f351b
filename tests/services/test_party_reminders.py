"""The watch-party service's jobs: the 12-hour horizon, reminders posted at most once (grace window, crashes,
retries when Discord was unreachable), party ends and pruning."""

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest

from bot.errors import UserFacingError
from bot.services.watchparties import ReminderJobs
from bot.services.watchparties.reminders import ReminderDms
from tests.services import watchparty_world as world
from tests.services.watchparty_world import FAN, GUILD, HOST, job_ids, request

env = world.env  # the shared fixtures
outages = world.outages


async def test_a_party_within_the_horizon_gets_its_jobs_at_once(env):
    service, _, _ = env
    [party] = (await service.create(request("in 2 hours"))).parties
    assert job_ids(service) == [f"party:{party.id}:end", f"party:{party.id}:remind:0",
                                f"party:{party.id}:remind:3600"]
    planned = service.reminders.scheduler.get_job(f"party:{party.id}:remind:3600").next_run_time - datetime.now(UTC)
    assert abs(planned - (party.starts_at - timedelta(hours=1) - service.clock())) < timedelta(seconds=1)


async def test_the_horizon_job_adds_work_as_it_comes_within_reach(env):
    service, clock, poster = env
    [party] = (await service.create(request("tomorrow 9pm"))).parties  # 24 h ahead
    [far] = (await service.create(request("2026-05-20 21:00"))).parties
    report = await service.reminders.rebuild()
    assert (report.scheduled, report.parties) == (0, 0)
    assert job_ids(service) == ["watchparty:horizon", "watchparty:prune"]
    assert service.reminders.scheduler.get_job("watchparty:horizon").trigger.interval == timedelta(minutes=15)
    remind_1h, remind_0, end = (f"party:{party.id}:remind:3600", f"party:{party.id}:remind:0",
                                f"party:{party.id}:end")
    clock.set(party.starts_at - timedelta(hours=12, minutes=30))  # only the 1-hour reminder is within 12 h
    assert await service.reminders.refresh_horizon() == 1
    assert job_ids(service) == [remind_1h, "watchparty:horizon", "watchparty:prune"]
    planned = service.reminders.scheduler.get_job(remind_1h).next_run_time - datetime.now(UTC)
    assert abs(planned - timedelta(hours=11, minutes=30)) < timedelta(seconds=1)
    clock.set(party.starts_at - timedelta(hours=10))
    assert await service.reminders.refresh_horizon() == 2
    assert await service.reminders.refresh_horizon() == 0  # jobs that exist are left alone
    assert job_ids(service) == [end, remind_0, remind_1h, "watchparty:horizon", "watchparty:prune"]
    # An edit that moves the party out of the horizon takes its jobs away; the far party never had any.
    await service.edit(party.id, GUILD, HOST, is_moderator=False, when="2026-05-10 21:00")
    assert job_ids(service) == ["watchparty:horizon", "watchparty:prune"]
    assert far.id not in {w.party_id for w in await service.repo.due_work(service.clock() + service.reminders.horizon)}
    # A reminder already sent is not brought back by the horizon job.
    clock.set(far.starts_at - timedelta(hours=1))
    await service.reminders.fire_reminder(far.id, 3600)
    assert [(p, o) for p, o, _, _ in poster.reminders] == [(far.id, 3600)]
    await service.reminders.refresh_horizon()
    assert f"party:{far.id}:remind:3600" not in job_ids(service)
    assert f"party:{far.id}:remind:0" in job_ids(service)


def test_the_horizon_must_outlast_its_refresh():
    with pytest.raises(ValueError, match="horizon"):
        ReminderJobs(None, None, None, horizon=timedelta(minutes=10), horizon_refresh=timedelta(minutes=15))


async def test_reminder_fires_once_with_going_members(env):
    service, clock, poster = env
    [party] = (await service.create(request("tomorrow 9pm"))).parties
    await service.rsvps.answer(party.id, FAN, "Fan", "going")
    await service.rsvps.answer(party.id, 21, "Maybe", "maybe")
    clock.set(party.starts_at - timedelta(hours=1) - timedelta(seconds=0.3))
    await service.reminders.rebuild()  # reschedules against the moved clock, as a restart would
    await asyncio.wait_for(poster.sent.wait(), 5)
    assert poster.reminders == [(party.id, 3600, [FAN], False)]

    async def recorded_as_sent() -> None:  # the job records "sent" just after its post: wait for that write
        while (await service.repo.reminder(party.id, 3600)).state != "sent":
            await asyncio.sleep(0.01)
    await asyncio.wait_for(recorded_as_sent(), 10)
    await service.reminders.fire_reminder(party.id, 3600)  # a second run (duplicate job) posts nothing
    assert len(poster.reminders) == 1
    assert (await service.repo.reminder(party.id, 3600)).state == "sent"


async def test_reminder_goes_to_going_members_and_maybe_members_who_asked_for_a_dm(env):
    service, clock, poster = env
    [party] = (await service.create(request("tomorrow 9pm"))).parties
    answers = [(21, "going", False), (22, "going", True), (23, "maybe", True), (24, "maybe", False),
               (25, "declined", False)]
    for user_id, status, dm in answers:
        await service.rsvps.answer(party.id, user_id, f"m{user_id}", status)
        if dm:
            assert await service.rsvps.toggle_dm(party.id, user_id) is True
    with pytest.raises(UserFacingError) as refused:  # nothing to be reminded of
        await service.rsvps.toggle_dm(party.id, 25)
    assert refused.value.key == "watchparty.rsvp.dm_needs_rsvp"
    await service.repo.toggle_dm(party.id, 25)  # a DM choice kept from before declining does not count
    clock.set(party.starts_at - timedelta(hours=1))
    await service.reminders.fire_reminder(party.id, 3600)
    assert poster.reminders == [(party.id, 3600, [21, 22, 23], False)]


@pytest.mark.parametrize(("late_by", "expected_state", "posted"), [
    (timedelta(minutes=5), "sent", [(3600, True)]),      # within the 15-minute grace: sent, saying it is late
    (timedelta(minutes=20), "skipped", []),              # beyond: skipped and recorded
])
async def test_missed_reminders_follow_the_grace_rule(env, late_by, expected_state, posted):
    service, clock, poster = env
    [party] = (await service.create(request("tomorrow 9pm"))).parties
    clock.set(party.starts_at - timedelta(hours=1) + late_by)
    report = await service.reminders.rebuild()
    assert (report.late, report.skipped) == ((1, 0) if posted else (0, 1))
    for _ in range(500):  # up to 10 s: a loaded machine is slow, a passing run never waits that long
        if (await service.repo.reminder(party.id, 3600)).state == expected_state:
            break
        await asyncio.sleep(0.02)
    assert [(offset, late) for _, offset, _, late in poster.reminders] == posted
    assert (await service.repo.reminder(party.id, 3600)).state == expected_state


@pytest.mark.parametrize(("duration", "posted"), [(10, []), (60, [(0, True)])])
async def test_a_short_party_that_ended_while_down_gets_no_starting_now(env, duration, posted):
    service, clock, poster = env
    [party] = (await service.create(request("tomorrow 9pm", duration_minutes=duration))).parties
    await service.repo.skip_reminders([(party.id, 3600)])
    service.reminders.unschedule_all()  # down from before the start until 12 minutes after it (within the grace)
    clock.set(party.starts_at + timedelta(minutes=12))
    report = await service.reminders.rebuild()
    assert (report.late, report.skipped) == ((0, 1) if not posted else (1, 0))
    await service.reminders.fire_reminder(party.id, 0)  # the job's own check agrees (and never posts twice)
    expected = "sent" if posted else "skipped"
    for _ in range(500):  # up to 10 s: a loaded machine is slow, a passing run never waits that long
        if (await service.repo.reminder(party.id, 0)).state == expected:
            break
        await asyncio.sleep(0.02)
    assert (await service.repo.reminder(party.id, 0)).state == expected
    assert [(offset, late) for _, offset, _, late in poster.reminders] == posted


async def _state_becomes(service, party_id, offset, state):
    for _ in range(100):
        if (await service.repo.reminder(party_id, offset)).state == state:
            return
        await asyncio.sleep(0.02)
    assert (await service.repo.reminder(party_id, offset)).state == state


async def _crash_after_claim(service, clock, party, *, late_by=timedelta(seconds=1)):
    """The post was claimed ('sending') and the process died; a new one starts `late_by` after the reminder."""
    assert await service.repo.claim_reminder(party.id, 3600, late=False, claimed_at=datetime.now(UTC))
    clock.set(party.starts_at - timedelta(hours=1) + late_by)
    service.reminders.unschedule_all()  # a new process starts with no jobs
    return await service.reminders.rebuild()


@pytest.mark.parametrize(("stored", "late_by", "posted", "state"), [
    (True, timedelta(seconds=1), [], "sent"),                     # Discord stored it: recorded, not posted again
    (False, timedelta(seconds=1), [(3600, False)], "sent"),       # it never arrived: posted now, once
    (True, timedelta(minutes=30), [], "sent"),                    # found after the grace: still just recorded
    (False, timedelta(minutes=30), [], "skipped"),                # not found, too late to post: skipped
])
async def test_a_reminder_interrupted_by_a_crash_is_looked_for_before_it_is_sent(env, caplog, stored, late_by,
                                                                                   posted, state):
    service, clock, poster = env
    [party] = (await service.create(request("tomorrow 9pm"))).parties
    if stored:
        poster.in_channel.add((party.id, 3600))
    with caplog.at_level(logging.WARNING, logger="bot.services.watchparties.reminders"):
        report = await _crash_after_claim(service, clock, party, late_by=late_by)
    assert report.unknown == 1
    await _state_becomes(service, party.id, 3600, state)
    assert [(offset, late) for _, offset, _, late in poster.reminders] == posted
    service.reminders.unschedule_all()
    assert (await service.reminders.rebuild()).unknown == 0  # reconciled once: the next start-up has nothing to do
    assert [r.getMessage() for r in caplog.records if "being sent" in r.getMessage()] == [
        "1 watch-party reminder(s) were being sent when the bot stopped; looking for them in their channels before "
        "sending"]


async def test_an_interrupted_reminder_whose_channel_cannot_be_read_is_tried_again_then_given_up(env):
    service, clock, poster = env
    service.reminders.retry_delay = timedelta(minutes=10)
    [party] = (await service.create(request("tomorrow 9pm"))).parties
    poster.lookup_fails = True
    await _crash_after_claim(service, clock, party)
    job_id = f"party:{party.id}:remind:3600"
    for _ in range(100):  # the look-up failed: a retry job 10 minutes later (within the 15-minute grace)
        job = service.reminders.scheduler.get_job(job_id)
        if job is not None and job.next_run_time.timestamp() > datetime.now(UTC).timestamp() + 60:
            break
        await asyncio.sleep(0.02)
    assert (await service.repo.reminder(party.id, 3600)).state == "sending"
    clock.set(party.starts_at - timedelta(hours=1) + timedelta(minutes=10))
    await service.reminders.resume_reminder(party.id, 3600)  # the retry: still unreadable, and past the grace now
    assert (await service.repo.reminder(party.id, 3600)).state == "unknown"
    assert poster.reminders == []


async def test_a_recorded_dm_is_never_sent_again(env):
    service, clock, _ = env
    [party] = (await service.create(request("tomorrow 9pm"))).parties
    ledger = ReminderDms(service.repo, party.id, 3600, clock)
    assert await ledger.claim(FAN) is True
    assert await ledger.claim(FAN) is False  # recorded: a second attempt (after a crash) skips this member
    await ledger.release(FAN)  # the DM certainly did not go out: it may be sent by a retry
    assert await ledger.claim(FAN) is True
    assert await service.repo.reminder_dms(party.id, 3600) == [FAN]


async def test_a_late_reminder_is_claimed_only_once_the_bot_is_ready(env):
    service, clock, poster = env
    [party] = (await service.create(request("tomorrow 9pm"))).parties
    poster.ready.clear()  # the bot is still connecting
    clock.set(party.starts_at - timedelta(hours=1) + timedelta(minutes=5))
    firing = asyncio.create_task(service.reminders.fire_reminder(party.id, 3600))
    await asyncio.sleep(0.1)
    assert (await service.repo.reminder(party.id, 3600)).state == "pending"
    firing.cancel()  # the bot stops before it is ready: the reminder is still there for the next start
    with pytest.raises(asyncio.CancelledError):
        await firing
    assert (await service.repo.reminder(party.id, 3600)).state == "pending"
    poster.ready.set()
    await service.reminders.fire_reminder(party.id, 3600)
    assert poster.reminders == [(party.id, 3600, [], True)]
    assert (await service.repo.reminder(party.id, 3600)).state == "sent"


async def test_failed_post_is_recorded_not_retried(env):
    service, clock, poster = env
    [party] = (await service.create(request("tomorrow 9pm"))).parties
    poster.fail = True
    clock.set(party.starts_at - timedelta(hours=1))
    await service.reminders.fire_reminder(party.id, 3600)
    assert (await service.repo.reminder(party.id, 3600)).state == "failed"


async def test_edit_moves_reminders_and_only_host_or_moderator_may(env):
    service, clock, poster = env
    [party] = (await service.create(request("tomorrow 9pm"))).parties
    with pytest.raises(UserFacingError) as refused:
        await service.edit(party.id, GUILD, FAN, is_moderator=False, when="tomorrow 11pm")
    assert refused.value.key == "watchparty.not_host"
    after = await service.edit(party.id, GUILD, HOST, is_moderator=False, when="tomorrow 11pm", title="Later")
    assert after.starts_at == party.starts_at + timedelta(hours=2) and after.title == "Later"
    assert [r.fire_at for r in await service.repo.reminders(party.id)] == [
        after.starts_at - timedelta(hours=1), after.starts_at]
    clock.set(party.starts_at - timedelta(hours=1))  # the old time: nothing is due
    await service.reminders.fire_reminder(party.id, 3600)
    assert poster.reminders == []
    job = service.reminders.scheduler.get_job(f"party:{party.id}:remind:3600")
    assert abs(job.next_run_time - datetime.now(UTC) - timedelta(hours=2)) < timedelta(seconds=2)


async def test_party_ends_after_its_end_time(env):
    service, clock, poster = env
    [party] = (await service.create(request("tomorrow 9pm", duration_minutes=30))).parties
    await service.reminders.end_party(party.id)  # too early: rescheduled, not ended
    assert (await service.get(party.id)).status == "scheduled"
    clock.set(party.ends_at + timedelta(seconds=1))
    report = await service.reminders.rebuild()
    assert report.skipped == 2  # both reminders are long past
    for _ in range(500):  # up to 10 s: a loaded machine is slow, a passing run never waits that long
        if poster.ended:
            break
        await asyncio.sleep(0.02)
    assert poster.ended == [party.id]
    assert (await service.get(party.id)).status == "ended"


@pytest.mark.parametrize("outages", [1])
async def test_an_undelivered_reminder_is_retried_once_discord_is_back(env):
    service, clock, poster = env
    [party] = (await service.create(request("tomorrow 9pm"))).parties
    await service.rsvps.answer(party.id, FAN, "Fan", "going")
    fire_at = party.starts_at - timedelta(hours=1)
    clock.set(fire_at)
    await service.reminders.fire_reminder(party.id, 3600)
    assert (await service.repo.reminder(party.id, 3600)).state == "pending"
    retry = service.reminders.scheduler.get_job(f"party:{party.id}:remind:3600")  # the same deterministic id
    assert abs(retry.next_run_time - datetime.now(UTC) - timedelta(minutes=1)) < timedelta(seconds=2)
    assert poster.reminders == []

    clock.set(fire_at + timedelta(minutes=1, seconds=5))  # the retry job runs
    await service.reminders.fire_reminder(party.id, 3600)
    assert poster.reminders == [(party.id, 3600, [FAN], True)]
    assert (await service.repo.reminder(party.id, 3600)).state == "sent"
    await service.reminders.fire_reminder(party.id, 3600)  # never twice
    assert len(poster.reminders) == 1


@pytest.mark.parametrize("outages", [1])
@pytest.mark.parametrize(("failed_at", "expected"), [
    (timedelta(minutes=13), "pending"),  # the retry (1 min later) is still within the 15-minute grace window
    (timedelta(minutes=14, seconds=30), "failed"),  # it would not be: given up now
])
async def test_retries_stop_at_the_grace_window(env, failed_at, expected):
    service, clock, _ = env
    [party] = (await service.create(request("tomorrow 9pm"))).parties
    clock.set(party.starts_at - timedelta(hours=1) + failed_at)
    await service.reminders.fire_reminder(party.id, 3600)
    assert (await service.repo.reminder(party.id, 3600)).state == expected
    has_job = service.reminders.scheduler.get_job(f"party:{party.id}:remind:3600") is not None
    assert has_job == (expected == "pending")


async def test_other_failures_may_have_posted_and_are_not_retried(env):
    service, clock, poster = env
    [party] = (await service.create(request("tomorrow 9pm"))).parties
    poster.fail = True  # RuntimeError: not known to be undelivered
    clock.set(party.starts_at - timedelta(hours=1))
    await service.reminders.fire_reminder(party.id, 3600)
    assert (await service.repo.reminder(party.id, 3600)).state == "failed"
    assert service.reminders.scheduler.get_job(f"party:{party.id}:remind:3600") is None


async def test_no_reminder_for_a_server_that_removed_the_bot(env):
    service, clock, poster = env
    [party] = (await service.create(request("tomorrow 9pm"))).parties
    poster.left_guilds.add(GUILD)
    clock.set(party.starts_at - timedelta(hours=1))
    await service.reminders.fire_reminder(party.id, 3600)
    assert poster.reminders == []
    assert (await service.repo.reminder(party.id, 3600)).state == "skipped"


async def test_finished_parties_are_pruned_after_the_retention(env):
    service, clock, _ = env
    [old, recent, upcoming] = [(await service.create(request(when))).parties[0]
                               for when in ("tomorrow 9pm", "sat 20:00", "2026-07-01 20:00")]
    await service.repo.finish(old.id, "ended", clock())
    await service.repo.finish(recent.id, "cancelled", clock())
    assert await service.reminders.prune() == 0  # nothing is old enough yet
    clock.set(recent.starts_at + timedelta(days=89))
    assert await service.reminders.prune() == 0
    clock.set(recent.starts_at + timedelta(days=91))
    assert await service.reminders.prune() == 2  # both finished parties started over 90 days ago
    assert await service.get(old.id) is None and await service.get(recent.id) is None
    assert await service.repo.reminders(old.id) == [] and await service.repo.rsvps(old.id) == []
    assert (await service.get(upcoming.id)).status == "scheduled"  # scheduled parties are never pruned


async def test_rebuild_schedules_the_daily_prune(env):
    service, _, _ = env
    await service.reminders.rebuild()
    assert "watchparty:prune" in job_ids(service)
    first = service.reminders.scheduler.get_job("watchparty:prune").next_run_time - datetime.now(UTC)
    assert first < timedelta(minutes=2), "the first prune runs soon after start-up, not a day later"
    service.reminders.unschedule_all()
    assert "watchparty:prune" not in job_ids(service)
