"""Spoiler safety fans opt into (issue 9): members who never recorded progress get the thread at once; members
who did are warned before episodes beyond it; `/config spoilers` chooses tracked, everyone or off; the warning
holds back only the link, never the thread, and moderators are never blocked from opening."""

import asyncio
from datetime import UTC, datetime, timedelta

from tests.e2e.episode_steps import (
    EPHEMERAL,
    _add_episode,
    _add_show,
    _custom_ids,
    _discussion,
    _preset,
    _thread,
    _thread_posts,
)
from tests.e2e.member_steps import answer


async def _progress(fake, g, member, episode, show="trauma-code"):
    await answer(fake, g, g.member(member), "progress set", show=show, episode=episode)


async def _warned(fake, g, member, episode, show="trauma-code", locale="en-US"):
    """/episode thread answered with a spoiler warning; (handle, warning message)."""
    ix = await fake.slash(g, g.member(member), "episode thread", show=show, episode=episode, locale=locale)
    assert (await ix.response()).type == 5
    warning = await ix.wait_original(lambda m: m.get("components"))
    assert warning["flags"] & EPHEMERAL
    assert _custom_ids(warning["components"]) == ["ep:confirm", "ep:cancel"]
    assert "<#" not in warning["content"]  # the link is held back
    return ix, warning


async def _confirm(fake, g, member, ix, warning):
    click = await fake.click(warning, "ep:confirm", g.member(member))
    assert (await click.response()).type == 6
    return (await ix.wait_original(lambda m: not m.get("components")))["content"]


async def test_member_without_progress_gets_the_thread_at_once_in_english_and_korean(fake, bot):
    g = fake.default_guild
    await _discussion(bot, g, g.channel("episode-discussion"))
    await _preset(fake, g)
    content = await _thread(fake, g, g.member("fan1"), "S1E3")
    [post] = _thread_posts(fake)
    thread_id = post.response["id"]
    assert content == f"Opened the discussion for Trauma Code S1E3: <#{thread_id}>"
    content = await _thread(fake, g, g.member("fan2"), "S1E3", locale="ko")
    assert content.endswith(f"<#{thread_id}>") and "스포일러" not in content
    assert len(_thread_posts(fake)) == 1


async def test_member_with_progress_is_warned_then_linked_and_the_thread_opens_before_the_click(fake, bot):
    g = fake.default_guild
    await _discussion(bot, g, g.channel("episode-discussion"))
    await _preset(fake, g)
    await _progress(fake, g, "fan1", "S1E2")
    ix, warning = await _warned(fake, g, "fan1", "S1E5")
    assert warning["content"] == ("⚠️ Spoiler check: you've recorded watching up to S1E2, and S1E5's thread "
                                  "discusses everything up to its end. Show it anyway?")
    [post] = _thread_posts(fake)  # opened at once: the warning only holds back this member's link
    thread_id = post.response["id"]
    assert await _confirm(fake, g, "fan1", ix, warning) == (
        f"Opened the discussion for Trauma Code S1E5: <#{thread_id}>")
    # Up to their progress: no warning.
    assert (await _thread(fake, g, g.member("fan1"), "S1E2")).startswith("Opened the discussion for Trauma Code S1E2")
    # Korean: warned in Korean, Cancel keeps the link back.
    await _progress(fake, g, "fan2", "S1E1")
    ix, warning = await _warned(fake, g, "fan2", "S1E5", locale="ko")
    assert warning["content"].startswith("⚠️ 스포일러 확인")
    click = await fake.click(warning, "ep:cancel", g.member("fan2"), locale="ko")
    assert (await click.response()).type == 7
    assert "<#" not in ix.original()["content"]
    assert len(_thread_posts(fake)) == 2


async def test_everyone_and_off_modes_and_config_show(fake, bot):
    g = fake.default_guild
    admin = g.member("admin")
    await _discussion(bot, g, g.channel("episode-discussion"))
    await _preset(fake, g)
    fields = {f["name"]: f["value"] for f in (await (await fake.slash(g, admin, "config show")).response())
              .embeds[0]["fields"]}
    assert fields["Spoiler warnings"].startswith("members who recorded their progress")

    resp = await (await fake.slash(g, admin, "config spoilers", mode="everyone")).response()
    assert resp.ephemeral and resp.content.startswith("Spoiler warnings: everyone before episodes beyond")
    ix, warning = await _warned(fake, g, "fan1", "S1E4")  # no progress counts as nothing watched
    assert warning["content"].startswith("⚠️ Spoiler check: you've recorded watching up to nothing yet")
    thread_id = _thread_posts(fake)[-1].response["id"]
    assert await _confirm(fake, g, "fan1", ix, warning) == f"Opened the discussion for Trauma Code S1E4: <#{thread_id}>"

    resp = await (await fake.slash(g, admin, "config spoilers", mode="off", locale="ko")).response()
    assert resp.content == "스포일러 경고: 끔: 경고 없이 스레드 링크를 줘요."
    await _progress(fake, g, "fan2", "S1E1")
    assert await _thread(fake, g, g.member("fan2"), "S1E4") == (
        f"The discussion for Trauma Code S1E4 is here: <#{thread_id}>")
    fields = {f["name"]: f["value"] for f in (await (await fake.slash(g, admin, "config show", locale="ko"))
                                                .response()).embeds[0]["fields"]}
    assert fields["스포일러 경고"] == "끔: 경고 없이 스레드 링크를 줘요"
    # A fan may not change it.
    resp = await (await fake.slash(g, g.member("fan1"), "config spoilers", mode="everyone")).response()
    assert resp.ephemeral
    assert (await bot.settings_service.get(g.id)).spoiler_mode == "off"


async def test_moderator_opens_a_future_episode_below_their_progress_at_once(fake, bot):
    g = fake.default_guild
    await _discussion(bot, g, g.channel("episode-discussion"))
    await bot.settings_service.set_role(g.id, "moderator", g.role("Moderator").id)
    await _add_show(fake, g)
    aired = (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="minutes")
    later = (datetime.now(UTC) + timedelta(days=3)).isoformat(timespec="minutes")
    for number, airs in ((1, aired), (2, later)):
        await _add_episode(fake, g, number, airs)
    await _progress(fake, g, "mod", "S1E1", show="night-shift")
    ix, warning = await _warned(fake, g, "mod", "S1E2", show="night-shift")
    [post] = _thread_posts(fake)  # the moderator was not blocked: the thread exists before any click
    thread_id = post.response["id"]
    assert await _confirm(fake, g, "mod", ix, warning) == f"Opened the discussion for Night Shift S1E2: <#{thread_id}>"
    # A fan with progress gets the same (already open) thread after the warning, though it has not aired.
    await _progress(fake, g, "fan1", "S1E1", show="night-shift")
    ix, warning = await _warned(fake, g, "fan1", "S1E2", show="night-shift")
    assert await _confirm(fake, g, "fan1", ix, warning) == (
        f"The discussion for Night Shift S1E2 is here: <#{thread_id}>")
    assert len(_thread_posts(fake)) == 1


async def test_warned_and_unwarned_members_asking_together_get_one_thread(fake, bot):
    g = fake.default_guild
    await _discussion(bot, g, g.channel("episode-discussion"))
    await _preset(fake, g)
    await _progress(fake, g, "fan1", "S1E1")  # fan1 is warned, fan2 (no progress) is not
    handles = await asyncio.gather(*(fake.slash(g, g.member(name), "episode thread", show="trauma-code",
                                                episode="S1E6") for name in ("fan1", "fan2")))
    for ix in handles:
        await ix.response()
    warning = await handles[0].wait_original(lambda m: m.get("components"))
    linked = (await handles[1].wait_original())["content"]
    [post] = _thread_posts(fake)
    thread_id = post.response["id"]
    assert "Trauma Code S1E6" in linked and linked.endswith(f"<#{thread_id}>")
    assert (await _confirm(fake, g, "fan1", handles[0], warning)).endswith(f"<#{thread_id}>")
    assert len(_thread_posts(fake)) == 1
