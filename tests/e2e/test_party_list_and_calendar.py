"""Watch parties end to end: /watchparty list pages and their buttons, /watchparty calendar files."""

from datetime import timedelta

import icalendar

from tests.e2e import member_steps
from tests.e2e.member_steps import KST_21, MESSAGES, create_party, reply

clock = member_steps.clock  # the shared fixtures
world = member_steps.world


async def test_calendar_and_list(fake, runner, world, clock):
    g, _ = world
    clock.set(KST_21 - timedelta(days=1))
    refusal = await reply(fake, g, g.member("fan1"), "watchparty create", deferred=True, title="Episode 3",
                          when="tomorrow 9pm", repeat_weekly=6)
    # the default member limit is 5
    assert refusal["content"].startswith("One member may host at most 5 upcoming watch parties")
    assert fake.requests_to("POST", MESSAGES) == []
    await runner.bot.settings_service.update(g.id, max_parties_per_member=10)
    await create_party(fake, g, g.member("fan1"), when="tomorrow 9pm", repeat_weekly=6, episode=1)
    ix = await fake.slash(g, g.member("fan2"), "watchparty calendar file")
    await ix.response()
    [upload] = [r for r in fake.requests_to("POST", "/interactions/{interaction_id}/{interaction_token}/callback")
                if r.files]
    events = icalendar.Calendar.from_ical(upload.files[0].data).walk("VEVENT")
    assert len(events) == 6
    assert events[0]["DTSTART"].dt == KST_21 and str(events[5]["SUMMARY"]) == "Episode 3"
    listing = await fake.slash(g, g.member("fan2"), "watchparty list")
    page = await listing.response()
    assert page.ephemeral and page.embeds[0]["footer"]["text"] == "Page 1 of 2"
    assert len(page.embeds[0]["fields"]) == 5
    nxt = await fake.click(page.message["id"], "wpl:1:next", g.member("fan2"))
    second = await nxt.response()
    assert second.type == 7 and second.data["embeds"][0]["footer"]["text"] == "Page 2 of 2"


async def test_list_page_buttons_work_after_a_restart(fake, runner, world, clock):
    g, _ = world
    clock.set(KST_21 - timedelta(days=1))
    await runner.bot.settings_service.update(g.id, max_parties_per_member=10)
    await create_party(fake, g, g.member("fan1"), when="tomorrow 9pm", repeat_weekly=7)
    listing = await fake.slash(g, g.member("fan2"), "watchparty list", locale="ko")
    page = await listing.response()
    assert page.embeds[0]["footer"]["text"] == "1 / 2 쪽"
    assert [c["custom_id"] for c in page.message["components"][0]["components"]] == ["wpl:0:prev", "wpl:1:next"]
    await runner.restart()
    second = await (await fake.click(page.message["id"], "wpl:1:next", g.member("fan2"), locale="ko")).response()
    assert second.type == 7
    assert second.data["embeds"][0]["footer"]["text"] == "2 / 2 쪽"
    assert len(second.data["embeds"][0]["fields"]) == 2
    buttons = second.data["components"][0]["components"]
    assert [(b["custom_id"], b.get("disabled", False)) for b in buttons] == [("wpl:0:prev", False),
                                                                             ("wpl:1:next", True)]
    back = await (await fake.click(page.message["id"], "wpl:0:prev", g.member("fan2"))).response()
    assert back.data["embeds"][0]["footer"]["text"] == "Page 1 of 2"
