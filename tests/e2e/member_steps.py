"""What members and admins do, as slash commands and clicks on the fake Discord (shared by end-to-end tests)."""

from __future__ import annotations


async def answer(fake, guild, member, command: str, *, locale: str = "en-US", **options) -> str:
    """Run a slash command as `member` and return the text it answered with (reply or first followup)."""
    ix = await fake.slash(guild, member, command, locale=locale, options=options)
    response = await ix.response()
    if response.type == 5:  # deferred: the answer edits the "thinking" message (an edit or the first followup)
        return (await ix.wait_original(timeout=10)).get("content") or ""
    return response.content or ""


async def set_up_watch_parties(fake, guild) -> None:
    """What an admin and the members do first: a watch-party channel, and members' time zones."""
    await answer(fake, guild, guild.member("admin"), "config channel", kind="watchparty",
                 channel=guild.channel("watch-party"))
    for name in ("admin", "fan1", "fan2", "fan3"):
        await answer(fake, guild, guild.member(name), "timezone set", tz="Asia/Seoul")


async def create_party(fake, guild, host, title: str, when: str, **options) -> tuple[int, dict]:
    """`/watchparty create` as `host`; the party's id and its announcement (the message with the RSVP buttons)."""
    mark = fake.mark()
    await answer(fake, guild, host, "watchparty create", title=title, when=when, **options)
    announcement = (await fake.wait_for_request("POST", "/channels/{channel_id}/messages", since=mark)).response
    custom_ids = [c["custom_id"] for row in announcement["components"] for c in row["components"]]
    return int(next(c for c in custom_ids if c.startswith("wp:")).split(":")[1]), announcement


async def rsvp(fake, announcement: dict, member, choice: str) -> None:
    """Click Going / Maybe / Can't go and wait until the announcement's counts were refreshed."""
    mark = fake.mark()
    party_id = next(c["custom_id"] for row in announcement["components"] for c in row["components"]
                    if c["custom_id"].startswith("wp:")).split(":")[1]
    click = await fake.click(announcement["id"], f"wp:{party_id}:{choice}", member)
    await click.response()
    await fake.wait_for_request("PATCH", "/channels/{channel_id}/messages/{message_id}",
                                lambda r: r.params["message_id"] == str(announcement["id"]), since=mark)
