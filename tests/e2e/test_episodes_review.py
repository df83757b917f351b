"""Episode threads end to end, review fixes (issue #4): button failures answered, joining a locked discussion,
starter edits in archived forum posts, localized permission names, expiring confirmations."""

import asyncio

from tests.e2e.test_episodes import (
    EPHEMERAL,
    MESSAGE_THREADS,
    _custom_ids,
    _discussion,
    _preset,
    _thread,
    _thread_posts,
    _watched_all,
)
from tests.fakediscord.state import Perm

EDIT_MESSAGE = "/channels/{channel_id}/messages/{message_id}"
EDIT_CHANNEL = "/channels/{channel_id}"
UNEXPECTED = {
    "en-US": "Something went wrong on my side. If it keeps happening, tell an admin this reference: ",
    "ko": "제 쪽에서 문제가 생겼어요. 계속되면 관리자에게 이 참조 번호를 알려 주세요: ",
}


async def _forum_thread(fake, bot, episode="S1E1"):
    """The preset installed, `episode`'s forum post opened by the admin; (thread id, episode id)."""
    g = fake.default_guild
    await _discussion(bot, g, g.channel("episode-discussion"))
    await _preset(fake, g)
    await _watched_all(fake, g, g.member("admin"))
    await _thread(fake, g, g.member("admin"), episode)
    post = _thread_posts(fake)[-1]
    starter = post.json["message"]
    return int(post.response["id"]), int(_custom_ids(starter["components"])[0].split(":")[2])


def _rating(message):
    return next(f["value"] for f in message["embeds"][0]["fields"] if f["name"] == "Rating")


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


async def test_vote_failing_in_the_database_answers_with_a_reference(fake, bot):
    g = fake.default_guild
    thread_id, episode_id = await _forum_thread(fake, bot)
    await bot.db.execute("DROP TABLE episode_ratings")
    ix = await fake.click(thread_id, f"ep:rate:{episode_id}:4", g.member("fan2"))
    assert (await ix.response()).type == 6
    [followup] = await ix.followups(1)
    assert followup["flags"] & EPHEMERAL and followup["content"].startswith(UNEXPECTED["en-US"])


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


async def test_vote_in_an_archived_forum_post_reopens_it_and_updates_the_average(fake, bot):
    g = fake.default_guild
    thread_id, episode_id = await _forum_thread(fake, bot)
    fake.archive_thread(fake.channels[thread_id])
    await asyncio.sleep(0.05)
    mark = fake.mark()
    ix = await fake.click(thread_id, f"ep:rate:{episode_id}:4", g.member("fan1"))
    [followup] = await ix.followups(1)
    assert followup["content"] == "You rated this episode 4 ★. Now: ★ 4.00 · votes: 1\n████████░░"
    edits = fake.requests_to("PATCH", EDIT_MESSAGE, since=mark)
    assert [r.status for r in edits] == [400, 200]  # refused in the archived post, then done once reopened
    assert edits[0].response["code"] == 50083
    [reopen] = fake.requests_to("PATCH", EDIT_CHANNEL, since=mark)
    assert reopen.json == {"archived": False}
    assert not fake.channels[thread_id].archived
    assert _rating(fake.message(thread_id)) == "★ 4.00 · votes: 1\n████████░░"


async def test_opening_the_next_episode_links_it_from_an_archived_forum_post(fake, bot):
    g = fake.default_guild
    first, _ = await _forum_thread(fake, bot, "S1E1")
    fake.archive_thread(fake.channels[first])
    await asyncio.sleep(0.05)
    await _thread(fake, g, g.member("admin"), "S1E2")
    second = int(_thread_posts(fake)[-1].response["id"])
    await fake.wait_for_request("PATCH", EDIT_MESSAGE, lambda r: r.status == 200 and r.params["message_id"]
                                == str(first))
    next_field = next(f for f in fake.message(first)["embeds"][0]["fields"] if f["name"] == "Next episode")
    assert next_field["value"] == f"S1E2: <#{second}>"


async def test_vote_in_a_locked_forum_post_is_counted_and_the_old_starter_stays(fake, bot):
    g = fake.default_guild
    thread_id, episode_id = await _forum_thread(fake, bot, "S1E3")
    ix = await fake.slash(g, g.member("admin"), "episode lock", show="trauma-code", episode="S1E3")
    await ix.followups(1)
    mark = fake.mark()
    ix = await fake.click(thread_id, f"ep:rate:{episode_id}:5", g.member("fan1"))
    [followup] = await ix.followups(1)
    assert followup["content"] == "You rated this episode 5 ★. Now: ★ 5.00 · votes: 1\n██████████"
    assert [r.status for r in fake.requests_to("PATCH", EDIT_MESSAGE, since=mark)] == [400]
    assert fake.requests_to("PATCH", EDIT_CHANNEL, since=mark) == []  # a moderator's lock is not undone
    assert fake.channels[thread_id].locked and fake.channels[thread_id].archived
    rating = await bot.get_cog("Episodes").service.rating(episode_id)
    assert (rating.count, rating.average) == (1, 5.0)


async def test_missing_permission_behind_a_join_button_is_named_in_korean(fake, bot):
    g = fake.default_guild
    general = g.channel("general")
    await _discussion(bot, g, general)
    await _preset(fake, g)
    await _watched_all(fake, g, g.member("admin"))
    await _thread(fake, g, g.member("admin"), "S1E1")
    post = [r for r in _thread_posts(fake) if r.template == MESSAGE_THREADS][-1]
    starter_id, thread_id = post.params["message_id"], int(post.response["id"])
    episode_id = _custom_ids(fake.message(starter_id)["components"])[0].split(":")[2]
    fake.delete_channel(fake.channels[thread_id])  # joining now means opening a new thread...
    fake.set_overwrite(general, fake.bot_member(g), deny=Perm.CREATE_PUBLIC_THREADS)  # ...which the bot may not
    await asyncio.sleep(0.05)
    ix = await fake.click(starter_id, f"ep:join:{episode_id}", g.member("fan1"), locale="ko")
    [followup] = await ix.followups(1)
    assert followup["flags"] & EPHEMERAL
    assert followup["content"] == (f"<#{general.id}>에서 스레드를 열 수 없어요: 공개 스레드 만들기 권한이 없어요. "
                                   "관리자에게 권한을 요청해 주세요.")


async def test_unanswered_confirmation_loses_its_buttons(fake, bot):
    g = fake.default_guild
    await _discussion(bot, g, g.channel("episode-discussion"))
    await _preset(fake, g)
    bot.get_cog("Episodes").confirm_timeout = 0.3
    for command, options in (("episode thread", {"episode": "S1E3"}), ("show remove", {})):
        ix = await fake.slash(g, g.member("admin"), command, show="trauma-code", **options)
        warning = await ix.wait_original(lambda m: m.get("components"))
        expired = await ix.wait_original(lambda m: not m.get("components"), timeout=3)
        assert expired["content"] == warning["content"]
    assert _thread_posts(fake) == []
    assert [show.key for show in await bot.get_cog("Episodes").service.shows(g.id)] == ["trauma-code"]
