"""Watch-party pickers: `/watchparty edit | cancel | calendar file` offer parties by title, scoped to the member."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from tests.e2e.member_steps import answer, create_party, edit_party, set_timezone, set_up_watch_parties

SEOUL, NEW_YORK = ZoneInfo("Asia/Seoul"), ZoneInfo("America/New_York")
WHEN = "in 3 days"


async def _offered(fake, guild, member, command: str, value: str = "") -> list[dict]:
    ac = await fake.autocomplete(guild, member, command, focused="id", value=value)
    await ac.response()
    return ac.choices


async def test_members_are_offered_their_own_parties_moderators_every_one(fake, bot):
    guild = fake.default_guild
    await set_up_watch_parties(fake, guild)
    await answer(fake, guild, guild.member("admin"), "config role", kind="moderator", role=guild.role("Moderator"))
    mine = (await create_party(fake, guild, guild.member("fan1"), "Episode 3 together", WHEN)).id
    theirs = (await create_party(fake, guild, guild.member("fan2"), "Finale night", WHEN)).id

    offered = await _offered(fake, guild, guild.member("fan1"), "watchparty edit")
    assert [c["value"] for c in offered] == [mine]
    assert offered[0]["name"].startswith("Episode 3 together · ") and offered[0]["name"].endswith(f"#{mine}")
    assert [c["value"] for c in await _offered(fake, guild, guild.member("fan1"), "watchparty cancel")] == [mine]
    assert {c["value"] for c in await _offered(fake, guild, guild.member("mod"), "watchparty edit")} == {mine, theirs}
    assert [c["value"] for c in await _offered(fake, guild, guild.member("mod"), "watchparty cancel", "FIN")] == [
        theirs]
    everything = await _offered(fake, guild, guild.member("fan3"), "watchparty calendar file")
    assert {c["value"] for c in everything} == {mine, theirs}
    assert [c["value"] for c in await _offered(fake, guild, guild.member("fan3"), "watchparty calendar file",
                                              str(theirs))] == [theirs]

    # The picked value is the party's id: the command takes it as before (a typed id keeps working too).
    reply = await edit_party(fake, guild, guild.member("fan1"), offered[0]["value"], title="Episode 3 (moved)")
    assert "Episode 3 (moved)" in reply["content"]


async def test_the_start_is_shown_in_the_members_time_zone(fake, bot):
    guild = fake.default_guild
    await set_up_watch_parties(fake, guild)  # every member in Asia/Seoul
    day = (datetime.now(SEOUL) + timedelta(days=5)).date()
    start = datetime.combine(day, time(21), SEOUL)
    party = (await create_party(fake, guild, guild.member("fan1"), "Late show", f"{day:%Y-%m-%d} 21:00")).id
    [seoul] = await _offered(fake, guild, guild.member("fan1"), "watchparty edit")
    assert seoul["name"] == f"Late show · {start:%m-%d} 21:00 · #{party}"
    await set_timezone(fake, guild, guild.member("fan1"), "America/New_York")
    [new_york] = await _offered(fake, guild, guild.member("fan1"), "watchparty edit")
    assert new_york["name"] == f"Late show · {start.astimezone(NEW_YORK):%m-%d %H:%M} · #{party}"
