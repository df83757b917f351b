"""Progress and spoiler safety end to end: the join button (progress moves up, locked discussions stay
read-only, failures answered), and the spoiler confirmation of /episode thread."""

import asyncio

from tests.e2e.episode_steps import (
    EPHEMERAL,
    UNEXPECTED,
    _discussion,
    _forum_thread,
    _preset,
    _text_thread,
    _thread,
)
from tests.fakediscord.state import Perm


async def test_join_button_adds_member_and_advances_progress(fake, bot):
    g = fake.default_guild
    thread_id, episode_id = await _forum_thread(fake, bot, "S1E2")
    fan = g.member("fan1")
    ix = await fake.click(str(thread_id), f"ep:join:{episode_id}", fan)
    assert (await ix.response()).type == 5
    [followup] = await ix.followups(1)
    assert followup["content"] == f"You're in: <#{thread_id}>. Your progress moved up to this episode."
    put = fake.requests_to("PUT", "/channels/{channel_id}/thread-members/{user_id}")[-1]
    assert (put.params["channel_id"], put.params["user_id"]) == (str(thread_id), str(fan.user.id))
    ix = await fake.slash(g, fan, "progress show")
    assert (await ix.response()).content == "Your progress:\n• Trauma Code: Heroes on Call (중증외상센터): S1E2"
    # Now S1E1 needs no spoiler check, S1E3 does.
    assert (await _thread(fake, g, fan, "S1E1")).startswith("Opened the discussion for Trauma Code S1E1")
    assert (await _thread(fake, g, fan, "S1E3")).startswith("⚠️ Spoiler check: you've recorded watching up to S1E2")


async def test_join_on_a_locked_discussion_says_it_is_read_only(fake, bot):
    g = fake.default_guild
    thread_id, episode_id = await _forum_thread(fake, bot, "S1E4")
    ix = await fake.slash(g, g.member("admin"), "episode lock", show="trauma-code", episode="S1E4")
    await ix.response()
    await ix.followups(1)
    expected = {
        "en-US": (f"This discussion is locked (read-only), so I couldn't add you: you can still read <#{thread_id}>. "
                  "Your progress moved up to this episode."),
        "ko": (f"이 토론은 잠겨 있어서(읽기 전용) 참여시켜 드릴 수 없어요. <#{thread_id}>은(는) 계속 읽을 수 있어요. "
               "시청 기록은 이 에피소드까지 올렸어요."),
    }
    for member, locale in (("fan1", "en-US"), ("fan2", "ko")):
        ix = await fake.click(thread_id, f"ep:join:{episode_id}", g.member(member), locale=locale)
        [followup] = await ix.followups(1)
        assert followup["flags"] & EPHEMERAL
        assert followup["content"] == expected[locale]
        assert g.member(member).id not in fake.channels[thread_id].member_ids
    assert fake.channels[thread_id].locked and fake.channels[thread_id].archived
    assert fake.requests_to("PUT", "/channels/{channel_id}/thread-members/{user_id}") == []


async def test_join_refused_by_discord_answers_with_a_reference_instead_of_thinking_forever(fake, bot):
    g = fake.default_guild
    thread_id, episode_id = await _forum_thread(fake, bot)
    for locale, status, code in (("en-US", 403, 50001), ("ko", 400, 50083)):
        fake.fail("PUT", "/channels/*/thread-members/*", status=status, code=code, message="Refused")
        ix = await fake.click(thread_id, f"ep:join:{episode_id}", g.member("fan1"), locale=locale)
        assert (await ix.response()).type == 5
        [followup] = await ix.followups(1)
        assert followup["flags"] & EPHEMERAL
        assert followup["content"].startswith(UNEXPECTED[locale])
        assert g.member("fan1").id not in fake.channels[thread_id].member_ids


async def test_missing_permission_behind_a_join_button_is_named_in_korean(fake, bot):
    g = fake.default_guild
    general = g.channel("general")
    starter_id, thread_id, episode_id = await _text_thread(fake, bot, "S1E1")
    fake.delete_channel(fake.channels[thread_id])  # joining now means opening a new thread...
    fake.set_overwrite(general, fake.bot_member(g), deny=Perm.CREATE_PUBLIC_THREADS)  # ...which the bot may not
    await asyncio.sleep(0.05)
    ix = await fake.click(starter_id, f"ep:join:{episode_id}", g.member("fan1"), locale="ko")
    [followup] = await ix.followups(1)
    assert followup["flags"] & EPHEMERAL
    assert followup["content"] == (f"<#{general.id}>에서 스레드를 열 수 없어요: 공개 스레드 만들기 권한이 없어요. "
                                   "관리자에게 권한을 요청해 주세요.")


async def test_unanswered_confirmation_loses_its_buttons(fake, bot, monkeypatch):
    g = fake.default_guild
    await _discussion(bot, g, g.channel("episode-discussion"))
    await _preset(fake, g)
    from cogs.episodes import components  # the module the running bot loaded (extensions load afresh)

    monkeypatch.setattr(components, "CONFIRM_TIMEOUT", 0.3)  # read by each new confirmation
    ix = await fake.slash(g, g.member("admin"), "progress set", show="trauma-code", episode="S1E1")
    await ix.response()
    for command, options in (("episode thread", {"episode": "S1E3"}), ("show remove", {})):
        ix = await fake.slash(g, g.member("admin"), command, show="trauma-code", **options)
        warning = await ix.wait_original(lambda m: m.get("components"))
        expired = await ix.wait_original(lambda m: not m.get("components"), timeout=3)
        assert expired["content"] == warning["content"]
        assert "<#" not in expired["content"]
    assert [show.key for show in await bot.get_cog("Episodes").service.lookup.shows(g.id)] == ["trauma-code"]
