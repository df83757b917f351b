"""Live calendar feeds (`/calendar/<token>.ics`) of the real bot, followed through edits, cancels and resets."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import icalendar
import vobject

from tests.e2e.member_steps import (
    KST_21,
    PARTY_DAY,
    answer,
    cancel_party,
    create_party,
    edit_party,
    rsvp,
    set_up_watch_parties,
)
from tests.fakediscord.state import Member

WHEN = f"{PARTY_DAY:%Y-%m-%d} 21:00"


def _url_in(reply: str) -> str:
    return re.search(r"https?://\S+\.ics", reply).group(0)


def _events(body: bytes) -> dict[str, icalendar.Event]:
    return {str(e["UID"]): e for e in icalendar.Calendar.from_ical(body).walk("VEVENT")}


async def _server_calendar(fake, web) -> str:
    guild = fake.default_guild
    reply = await answer(fake, guild, guild.member("admin"), "config calendar reset")
    return _url_in(reply).removeprefix(web.base)


async def test_server_feed_has_parties_and_air_times_in_utc_with_links_and_hints(fake, web):
    guild = fake.default_guild
    await set_up_watch_parties(fake, guild)
    await answer(fake, guild, guild.member("admin"), "show preset", name="trauma-code")
    party_id = (await create_party(fake, guild, guild.member("fan1"), "Episode 3 together", WHEN,
                                   description="Bring snacks")).id
    path = await _server_calendar(fake, web)

    status, headers, body = await web.get(path)
    assert status == 200
    assert headers["Content-Type"].startswith("text/calendar")
    assert headers["ETag"] and headers["Last-Modified"]
    events = _events(body)
    party = events[f"party-{party_id}@codeblue"]
    assert str(party["SUMMARY"]) == "Episode 3 together"
    assert party.decoded("DTSTART") == KST_21
    assert party.decoded("DTEND") > KST_21
    assert "Bring snacks" in str(party["DESCRIPTION"])
    assert "https://discord.com/" in str(party["DESCRIPTION"])
    assert str(party["LOCATION"]) == "#watch-party"
    assert str(party["STATUS"]) == "CONFIRMED" and int(party["SEQUENCE"]) == 0
    assert "LAST-MODIFIED" in party
    episodes = [e for uid, e in events.items() if uid.startswith("episode-")]
    assert len(episodes) == 8
    assert {e.decoded("DTSTART") for e in episodes} == {datetime(2025, 1, 24, 8, tzinfo=UTC)}
    assert any("S1E3" in str(e["SUMMARY"]) for e in episodes)

    # The wire format: CRLF everywhere, folded lines of at most 75 octets, times in UTC, refresh hints.
    text = body.decode()
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")
    assert max(len(line.encode()) for line in text.split("\r\n")) <= 75
    assert all(line.endswith("Z") for line in text.split("\r\n") if line.startswith(("DTSTART", "DTEND")))
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT1H" in text and "X-PUBLISHED-TTL:PT1H" in text

    # A second, independent parser reads the same feed.
    parsed = vobject.readOne(body.decode())
    uids = {event.uid.value for event in parsed.vevent_list}
    assert f"party-{party_id}@codeblue" in uids and len(uids) == 10  # the party, 8 episodes, 1 premiere


async def test_edits_bump_sequence_and_etag_cancel_keeps_the_party_cancelled(fake, web):
    guild = fake.default_guild
    await set_up_watch_parties(fake, guild)
    host = guild.member("fan1")
    party_id = (await create_party(fake, guild, host, "Episode 3", WHEN)).id
    path = await _server_calendar(fake, web)
    uid = f"party-{party_id}@codeblue"

    status, first_headers, _first = await web.get(path)
    etag = first_headers["ETag"]
    status, _, _ = await web.get(path, headers={"If-None-Match": etag})
    assert status == 304
    status, _, _ = await web.get(path, headers={"If-Modified-Since": first_headers["Last-Modified"]})
    assert status == 304

    await edit_party(fake, guild, host, party_id, title="Episode 3 (moved)")
    status, headers, body = await web.get(path, headers={"If-None-Match": etag})
    assert status == 200 and headers["ETag"] != etag
    edited = _events(body)[uid]
    assert str(edited["SUMMARY"]) == "Episode 3 (moved)" and int(edited["SEQUENCE"]) == 1

    await cancel_party(fake, guild, host, party_id)
    status, _, body = await web.get(path)
    cancelled = _events(body)[uid]
    assert str(cancelled["STATUS"]) == "CANCELLED" and int(cancelled["SEQUENCE"]) >= 2


async def test_a_reset_address_and_an_unknown_one_answer_404(fake, web):
    old = await _server_calendar(fake, web)
    assert (await web.get(old))[0] == 200
    new = await _server_calendar(fake, web)
    assert new != old
    assert (await web.get(old))[0] == 404
    assert (await web.get(new))[0] == 200
    status, _, body = await web.get("/calendar/" + "A" * 32 + ".ics")
    assert status == 404 and b"party" not in body


async def test_rsvps_change_the_counts_not_the_members_named(fake, web):
    guild = fake.default_guild
    await set_up_watch_parties(fake, guild)
    _, announcement = await create_party(fake, guild, guild.member("fan1"), "Episode 4", WHEN)
    await rsvp(fake, announcement, guild.member("fan2"), "going")
    path = await _server_calendar(fake, web)
    _, _, body = await web.get(path)
    assert "daniel" not in body.decode() and "fan2" not in body.decode()


async def test_a_members_feed_has_their_going_and_maybe_parties_and_follows_them(fake, web):
    guild = fake.default_guild
    await set_up_watch_parties(fake, guild)
    host, fan = guild.member("fan1"), guild.member("fan2")
    going_party = await create_party(fake, guild, host, "Going one", WHEN)
    maybe_party = await create_party(fake, guild, host, "Maybe one", f"{PARTY_DAY:%Y-%m-%d} 22:00")
    declined_party = await create_party(fake, guild, host, "Declined one", f"{PARTY_DAY:%Y-%m-%d} 23:00")
    await rsvp(fake, going_party.announcement, fan, "going")
    await rsvp(fake, maybe_party.announcement, fan, "maybe")
    await rsvp(fake, declined_party.announcement, fan, "declined")
    going, maybe, declined = going_party.id, maybe_party.id, declined_party.id

    reply = await answer(fake, guild, fan, "watchparty calendar subscribe")
    mine, server = re.findall(r"<(https?://\S+\.ics)>", reply)
    assert re.search(r"webcal://\S+\.ics", reply)
    _, _, body = await web.get(mine.removeprefix(web.base))
    assert set(_events(body)) == {f"party-{going}@codeblue", f"party-{maybe}@codeblue"}
    _, _, body = await web.get(server.removeprefix(web.base))
    assert {f"party-{going}@codeblue", f"party-{maybe}@codeblue", f"party-{declined}@codeblue"} <= set(_events(body))

    await cancel_party(fake, guild, host, going)
    _, _, body = await web.get(mine.removeprefix(web.base))
    assert str(_events(body)[f"party-{going}@codeblue"]["STATUS"]) == "CANCELLED"

    reply = await answer(fake, guild, fan, "watchparty calendar reset", locale="ko")
    assert reply.startswith("개인 캘린더 주소를 바꿨어요.")
    [new] = re.findall(r"<(https?://\S+\.ics)>", reply)
    assert (await web.get(mine.removeprefix(web.base)))[0] == 404
    assert (await web.get(new.removeprefix(web.base)))[0] == 200
    again = await answer(fake, guild, fan, "watchparty calendar subscribe")
    assert new in again and server in again  # the server's address did not change


async def test_without_a_public_address_no_links_are_offered(fake, bot):
    guild = fake.default_guild
    reply = await answer(fake, guild, guild.member("fan2"), "watchparty calendar subscribe")  # ephemeral
    assert "CODEBLUE_PUBLIC_URL" in reply and "http" not in reply


async def test_season_premieres_are_in_the_server_feed_and_follow_their_date(fake, web):
    guild = fake.default_guild
    admin = guild.member("admin")
    await answer(fake, guild, admin, "show preset", name="trauma-code")
    path = await _server_calendar(fake, web)
    show_id = (await web.bot.get_cog("Episodes").service.lookup.show(guild.id, "trauma-code")).id
    one = _events((await web.get(path))[2])[f"season-{show_id}-1@codeblue"]
    assert str(one["SUMMARY"]) == "Trauma Code: Heroes on Call · Season 1 premiere"
    assert one.decoded("DTSTART") == datetime(2025, 1, 24, 8, tzinfo=UTC)

    # To be announced: no premiere event for season 2 yet; a date adds it; a moved date moves it.
    await answer(fake, guild, admin, "show season add", show="trauma-code", season=2)
    assert f"season-{show_id}-2@codeblue" not in _events((await web.get(path))[2])
    premiere = datetime.now(UTC).replace(microsecond=0) + timedelta(days=40)
    for when in (premiere, premiere + timedelta(days=7)):
        await answer(fake, guild, admin, "show season edit", show="trauma-code", season=2,
                     premiere=when.isoformat())
        two = _events((await web.get(path))[2])[f"season-{show_id}-2@codeblue"]
        assert two.decoded("DTSTART") == when and two.decoded("DTEND") == when + timedelta(hours=1)
        assert str(two["SUMMARY"]) == "Trauma Code: Heroes on Call · Season 2 premiere"
    await answer(fake, guild, admin, "show season edit", show="trauma-code", season=2, premiere="tba")
    assert f"season-{show_id}-2@codeblue" not in _events((await web.get(path))[2])


async def test_a_members_feed_spans_every_server(fake, web):
    first = fake.default_guild
    second = fake.add_guild("Second fan server")
    fan = first.member("fan2")
    second.members[fan.id] = Member(fan.user, second.id, [])  # the same person is in both servers
    for guild in (first, second):
        await set_up_watch_parties(fake, guild)
    here = await create_party(fake, first, first.member("fan1"), "Here", WHEN)
    there = await create_party(fake, second, second.member("fan1"), "There", WHEN)
    await rsvp(fake, here.announcement, fan, "going")
    await rsvp(fake, there.announcement, second.members[fan.id], "maybe")
    reply = await answer(fake, second, second.members[fan.id], "watchparty calendar subscribe")
    mine = re.findall(r"<(https?://\S+\.ics)>", reply)[0]
    _, _, body = await web.get(mine.removeprefix(web.base))
    assert set(_events(body)) == {f"party-{here.id}@codeblue", f"party-{there.id}@codeblue"}
