"""The watch-party service's parties: creating (zones, limits, weekly series), editing in the party's zone,
cancelling, and the parties a calendar file holds."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import icalendar
import pytest

from bot.domain.timeparse import WhenError
from bot.errors import UserFacingError
from cogs.watchparties import render
from tests.services import watchparty_world as world
from tests.services.watchparty_world import FAN, GUILD, HOST, SEOUL, job_ids, request

env = world.env  # the shared fixtures
outages = world.outages


async def test_create_reads_when_in_the_members_zone_and_schedules_jobs(env):
    service, _, _ = env
    await service.timezones.set_member_timezone(HOST, "kst")
    created = await service.create(request("내일 오후 9시", show="Trauma Code", episode=3))
    [party] = created.parties
    assert party.starts_at == datetime(2026, 5, 2, 21, 0, tzinfo=SEOUL)
    assert (party.zone, party.show, party.episode, party.duration_minutes) == ("Asia/Seoul", "Trauma Code", 3, 60)
    assert job_ids(service) == []  # a day away: beyond the 12-hour horizon, the horizon job will add them


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
