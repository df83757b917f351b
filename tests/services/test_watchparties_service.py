"""The watch-party service with a real database, a real APScheduler and a recording poster (Discord's stand-in)."""

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.domain.timeparse import WhenError
from bot.errors import UserFacingError
from bot.services.settings import SettingsService
from bot.services.watchparties import PartyRequest, ReminderJobs, ReminderNotDelivered, WatchPartyService
from cogs.watchparties import render
from db.database import Database
from db.migrate import migrate
from db.watchparties import WatchPartyRepository

GUILD, CHANNEL, HOST, FAN = 1, 100, 10, 20
SEOUL = ZoneInfo("Asia/Seoul")


class ShiftedClock:
    """Real time plus a shift the test chooses (jobs run on real time, the service reads this clock)."""

    def __init__(self, now: datetime) -> None:
        self.shift = now - datetime.now(UTC)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.shift

    def set(self, now: datetime) -> None:
        self.shift = now - datetime.now(UTC)


class RecordingPoster:
    """Records reminders and party ends; Discord is unreachable for the first `outages` reminder posts."""

    def __init__(self, outages: int = 0) -> None:
        self.outages = outages
        self.reminders: list[tuple[int, int, list[int], bool]] = []
        self.ended: list[int] = []
        self.fail = False
        self.sent = asyncio.Event()
        self.ready = asyncio.Event()
        self.ready.set()
        self.left_guilds: set[int] = set()

    async def wait_until_ready(self):
        await self.ready.wait()

    def serves_guild(self, guild_id):
        return guild_id not in self.left_guilds

    async def send_reminder(self, party, offset, going, *, late):
        if self.outages:
            self.outages -= 1
            raise ReminderNotDelivered("ClientConnectorError")
        await self.ready.wait()  # like the cog: Discord calls need a ready client
        if self.fail:
            raise RuntimeError("channel gone")
        self.reminders.append((party.id, int(offset.total_seconds()), [r.user_id for r in going], late))
        self.sent.set()

    async def party_ended(self, party):
        self.ended.append(party.id)


@pytest.fixture
def outages():
    """How many reminder posts fail with Discord unreachable (tests override it by parametrizing)."""
    return 0


@pytest.fixture
async def env(tmp_path, outages):
    db = Database(tmp_path / "wp.db")
    await db.connect()
    await migrate(db)
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.start()
    settings = SettingsService(db)
    await settings.update(GUILD, reminder_offsets="1h 0")
    clock = ShiftedClock(datetime(2026, 5, 1, 12, 0, tzinfo=UTC))  # Fri 21:00 in Seoul
    poster = RecordingPoster(outages)
    service = WatchPartyService(WatchPartyRepository(db), settings, scheduler, poster, clock=clock)
    yield service, clock, poster
    scheduler.shutdown(wait=False)
    await db.close()


def request(when="tomorrow 9pm", **kw):
    return PartyRequest(**{"guild_id": GUILD, "channel_id": CHANNEL, "host_id": HOST, "title": "Episode 3",
                           "when": when, **kw})


def job_ids(service):
    return sorted(job.id for job in service.reminders.scheduler.get_jobs())


async def test_create_reads_when_in_the_members_zone_and_schedules_jobs(env):
    service, _, _ = env
    await service.timezones.set_member_timezone(HOST, "kst")
    created = await service.create(request("내일 오후 9시", show="Trauma Code", episode=3))
    [party] = created.parties
    assert party.starts_at == datetime(2026, 5, 2, 21, 0, tzinfo=SEOUL)
    assert (party.zone, party.show, party.episode, party.duration_minutes) == ("Asia/Seoul", "Trauma Code", 3, 60)
    assert job_ids(service) == []  # a day away: beyond the 12-hour horizon, the horizon job will add them


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


@pytest.mark.parametrize(("member_zone", "server_zone", "expected"), [
    ("America/New_York", "Asia/Seoul", "America/New_York"),
    (None, "Asia/Seoul", "Asia/Seoul"),
    (None, "UTC", "UTC"),
])
async def test_zone_fallback_member_then_server_then_utc(env, member_zone, server_zone, expected):
    service, _, _ = env
    if member_zone:
        await service.timezones.set_member_timezone(HOST, member_zone)
    await service.settings.update(GUILD, timezone=server_zone)
    [party] = (await service.create(request("tomorrow 9pm"))).parties
    assert party.starts_at.astimezone(ZoneInfo(expected)).hour == 21
    assert party.zone == expected


async def test_bad_input_writes_nothing(env):
    service, _, _ = env
    with pytest.raises(WhenError) as caught:
        await service.create(request("yesterday 9pm"))
    assert caught.value.code == "past"
    with pytest.raises(UserFacingError) as refused:
        await service.create(request(title="x" * 101))
    assert refused.value.key == "watchparty.create.title_too_long"
    with pytest.raises(UserFacingError) as refused:
        await service.create(request(timezone="Mars/Olympus"))
    assert refused.value.key == "timezone.unknown"
    assert await service.repo.count_upcoming(GUILD) == 0 and job_ids(service) == []


@pytest.mark.parametrize(("limits", "options", "key", "params"), [
    ({"max_party_title_length": 20}, {"title": "x" * 21}, "watchparty.create.title_too_long",
     {"max": 20, "length": 21}),
    ({"max_party_description_length": 50}, {"description": "d" * 51}, "watchparty.create.description_too_long",
     {"max": 50, "length": 51}),
    ({"max_party_description_length": 0}, {"description": "d"}, "watchparty.create.description_off", {}),
])
async def test_server_text_limits_refuse_and_write_nothing(env, limits, options, key, params):
    service, _, _ = env
    await service.settings.update(GUILD, **limits)
    with pytest.raises(UserFacingError) as refused:
        await service.create(request(**options))
    assert (refused.value.key, refused.value.params) == (key, params)
    assert await service.repo.count_upcoming(GUILD) == 0 and job_ids(service) == []


async def test_server_text_limits_allow_up_to_the_limit_and_apply_to_edits(env):
    service, _, _ = env
    await service.settings.update(GUILD, max_party_title_length=20, max_party_description_length=50)
    [party] = (await service.create(request(title="t" * 20, description="d" * 50))).parties
    assert (len(party.title), len(party.description)) == (20, 50)
    with pytest.raises(UserFacingError) as refused:
        await service.edit(party.id, GUILD, HOST, is_moderator=False, title="e" * 21)
    assert (refused.value.key, refused.value.params) == ("watchparty.create.title_too_long", {"max": 20, "length": 21})
    assert (await service.get(party.id)).title == "t" * 20


async def test_member_limit(env):
    service, _, _ = env
    await service.settings.update(GUILD, max_parties_per_member=2)
    await service.create(request(repeat_weekly=2))
    with pytest.raises(UserFacingError) as refused:
        await service.create(request("sat 20:00"))
    assert (refused.value.key, refused.value.params) == ("watchparty.limit.member", {"limit": 2})


async def test_repeat_weekly_keeps_local_time_across_dst_and_advances_episodes(env):
    service, clock, _ = env
    clock.set(datetime(2026, 10, 20, 12, 0, tzinfo=UTC))
    await service.timezones.set_member_timezone(HOST, "America/New_York")
    created = await service.create(request("2026-10-24 20:00", episode=5, repeat_weekly=3))
    local = [p.starts_at.astimezone(ZoneInfo("America/New_York")) for p in created.parties]
    assert [(d.month, d.day, d.hour, d.minute) for d in local] == [(10, 24, 20, 0), (10, 31, 20, 0), (11, 7, 20, 0)]
    assert [p.starts_at.hour for p in created.parties] == [0, 0, 1]  # UTC moves, local does not
    assert [p.episode for p in created.parties] == [5, 6, 7]


async def test_reminder_fires_once_with_going_members(env):
    service, clock, poster = env
    [party] = (await service.create(request("tomorrow 9pm"))).parties
    await service.rsvps.answer(party.id, FAN, "Fan", "going")
    await service.rsvps.answer(party.id, 21, "Maybe", "maybe")
    clock.set(party.starts_at - timedelta(hours=1) - timedelta(seconds=0.3))
    await service.reminders.rebuild()  # reschedules against the moved clock, as a restart would
    await asyncio.wait_for(poster.sent.wait(), 5)
    assert poster.reminders == [(party.id, 3600, [FAN], False)]
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
    for _ in range(50):
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
    for _ in range(50):
        if (await service.repo.reminder(party.id, 0)).state == expected:
            break
        await asyncio.sleep(0.02)
    assert (await service.repo.reminder(party.id, 0)).state == expected
    assert [(offset, late) for _, offset, _, late in poster.reminders] == posted


async def test_a_reminder_left_sending_by_a_crash_is_never_resent(env, caplog):
    service, clock, poster = env
    [party] = (await service.create(request("tomorrow 9pm"))).parties
    assert await service.repo.claim_reminder(party.id, 3600, late=False)  # the crash happened after this
    clock.set(party.starts_at - timedelta(hours=1) + timedelta(seconds=1))
    service.reminders.unschedule_all()  # a new process starts with no jobs
    with caplog.at_level(logging.WARNING, logger="bot.services.watchparties.reminders"):
        report = await service.reminders.rebuild()
        assert report.unknown == 1
        assert (await service.repo.reminder(party.id, 3600)).state == "unknown"  # final: not re-read next time
        assert f"party:{party.id}:remind:3600" not in job_ids(service)
        await service.reminders.fire_reminder(party.id, 3600)
        assert poster.reminders == []
        service.reminders.unschedule_all()
        assert (await service.reminders.rebuild()).unknown == 0  # the next start-up neither re-reads nor warns again
    assert [r.getMessage() for r in caplog.records if "being sent" in r.getMessage()] == [
        "1 watch-party reminder(s) were being sent when the bot stopped; marked 'unknown', never sent again"]


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


@pytest.mark.parametrize(("when", "expected"), [
    ("tomorrow 10pm", datetime(2026, 5, 2, 22, 0, tzinfo=SEOUL)),  # the party's zone, not the moderator's
    ("2026-05-02 22:30", datetime(2026, 5, 2, 22, 30, tzinfo=SEOUL)),
    ("tomorrow 10pm EST", datetime(2026, 5, 2, 22, 0, tzinfo=ZoneInfo("America/New_York"))),  # named: that zone
])
async def test_edit_reads_when_in_the_partys_zone(env, when, expected):
    service, _, _ = env
    await service.timezones.set_member_timezone(HOST, "Asia/Seoul")
    await service.timezones.set_member_timezone(FAN, "America/New_York")  # the moderator lives elsewhere
    [party] = (await service.create(request("tomorrow 9pm"))).parties
    assert party.starts_at == datetime(2026, 5, 2, 21, 0, tzinfo=SEOUL)
    after = await service.edit(party.id, GUILD, FAN, is_moderator=True, when=when)
    assert after.starts_at == expected
    assert after.zone == "Asia/Seoul"


async def test_edit_reads_when_in_a_fixed_offset_zone_the_party_was_created_in(env):
    service, _, _ = env
    [party] = (await service.create(request("2026-05-02 21:00 UTC+9"))).parties
    assert (party.zone, party.starts_at) == ("UTC+09:00", datetime(2026, 5, 2, 12, 0, tzinfo=UTC))
    after = await service.edit(party.id, GUILD, HOST, is_moderator=False, when="2026-05-02 22:00")
    assert after.starts_at == datetime(2026, 5, 2, 13, 0, tzinfo=UTC)


async def test_cancel_unschedules_and_returns_going(env):
    service, _, _ = env
    [party] = (await service.create(request("tomorrow 9pm"))).parties
    await service.rsvps.answer(party.id, FAN, "Fan", "going")
    with pytest.raises(UserFacingError):
        await service.cancel(party.id, GUILD, FAN, is_moderator=False)
    cancelled, going = await service.cancel(party.id, GUILD, FAN, is_moderator=True)
    assert cancelled.status == "cancelled" and [r.user_id for r in going] == [FAN]
    assert job_ids(service) == []
    with pytest.raises(UserFacingError) as refused:
        await service.rsvps.answer(party.id, FAN, "Fan", "maybe")
    assert refused.value.key == "watchparty.rsvp.cancelled"


async def test_party_ends_after_its_end_time(env):
    service, clock, poster = env
    [party] = (await service.create(request("tomorrow 9pm", duration_minutes=30))).parties
    await service.reminders.end_party(party.id)  # too early: rescheduled, not ended
    assert (await service.get(party.id)).status == "scheduled"
    clock.set(party.ends_at + timedelta(seconds=1))
    report = await service.reminders.rebuild()
    assert report.skipped == 2  # both reminders are long past
    for _ in range(50):
        if poster.ended:
            break
        await asyncio.sleep(0.02)
    assert poster.ended == [party.id]
    assert (await service.get(party.id)).status == "ended"


async def test_calendar_parses_back(env):
    service, _, _ = env
    parties = (await service.create(request("tomorrow 9pm", show="중증외상센터", episode=2, repeat_weekly=2))).parties
    listed = await service.calendar_parties(GUILD, None)
    assert len(listed) == 2
    data = render.calendar_file(listed, calendar_name="Code Blue", stamp=service.clock())
    events = icalendar.Calendar.from_ical(data).walk("VEVENT")
    assert [str(e["UID"]) for e in events] == [f"party-{p.id}@codeblue" for p in parties]
    assert events[0]["DTSTART"].dt == parties[0].starts_at
    assert "중증외상센터 #2" in str(events[0]["DESCRIPTION"])
    await service.cancel(parties[0].id, GUILD, HOST, is_moderator=False)
    one = render.calendar_file(await service.calendar_parties(GUILD, parties[0].id), calendar_name="Code Blue",
                               stamp=service.clock())
    assert str(icalendar.Calendar.from_ical(one).walk("VEVENT")[0]["STATUS"]) == "CANCELLED"


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
