"""Episode threads end to end: opened once in a forum (with tags) or under a starter in a text channel,
found, reopened when archived, recreated when deleted, never reopened when locked; starter messages reposted
when deleted; threads made before a crash adopted; refusals; Korean servers; /episode lock."""

import asyncio
from datetime import UTC, datetime, timedelta

from tests.e2e.episode_steps import (
    EDIT_CHANNEL,
    EDIT_MESSAGE,
    EPHEMERAL,
    MESSAGE_THREADS,
    _add_episode,
    _add_show,
    _custom_ids,
    _discussion,
    _forum_thread,
    _preset,
    _text_thread,
    _thread,
    _thread_posts,
    _watched_all,
)
from tests.e2e.member_steps import answer, reply
from tests.fakediscord.state import BOT_DEFAULT, Perm


async def test_preset_install_then_forum_thread_with_tags_is_idempotent(fake, bot):
    g = fake.default_guild
    forum = g.channel("episode-discussion")
    fake.set_role_permissions(g.role("Code Blue"), int(BOT_DEFAULT | Perm.MANAGE_CHANNELS))
    ix = await fake.slash(g, g.member("admin"), "config channel", kind="discussion", channel=forum)
    assert (await ix.response()).ephemeral

    said = await _preset(fake, g)  # ephemeral
    assert said == ("Installed Trauma Code: Heroes on Call (중증외상센터): 8 episodes; "
                    "all threads at release.\n8 of its episodes have already aired, and threads of aired "
                    "episodes don't open by themselves. Open them all at once with /show open "
                    "show:trauma-code.")

    # Progress recorded up to S1E1: a spoiler check with Confirm/Cancel holds back the link (not the thread).
    ix = await fake.slash(g, g.member("admin"), "progress set", show="trauma-code", episode="S1E1")
    await ix.response()
    ix = await fake.slash(g, g.member("admin"), "episode thread", show="trauma-code", episode="S1E3")
    assert (await ix.response()).type == 5
    warning = await ix.wait_original(lambda m: m.get("components"))
    assert warning["flags"] & EPHEMERAL
    assert warning["content"].startswith("⚠️ Spoiler check: you've recorded watching up to S1E1,")
    assert "<#" not in warning["content"]
    assert _custom_ids(warning["components"]) == ["ep:confirm", "ep:cancel"]
    click = await fake.click(warning, "ep:confirm", g.member("admin"))
    assert (await click.response()).type == 6
    done = await ix.wait_original(lambda m: not m.get("components"))

    [post] = _thread_posts(fake)
    assert post.params["channel_id"] == str(forum.id)
    body = post.json
    assert body["name"] == "Trauma Code · S1E3 · Discussion"
    assert body["auto_archive_duration"] == 10080
    tags = {t["name"]: t["id"] for t in fake.channels[forum.id].available_tags}
    assert {"Trauma Code", "S1E3"} <= set(tags)  # created with PATCH /channels/{forum}
    assert sorted(body["applied_tags"]) == sorted([tags["Trauma Code"], tags["S1E3"]])
    thread_id = int(post.response["id"])
    assert done["content"] == f"Opened the discussion for Trauma Code S1E3: <#{thread_id}>"
    starter = body["message"]
    assert starter["allowed_mentions"] == {"parse": []}
    embed = starter["embeds"][0]
    assert embed["title"] == "Trauma Code: Heroes on Call · S1E3"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    airs = int(datetime(2025, 1, 24, 8, 0, tzinfo=UTC).timestamp())
    assert fields["Airs"] == f"<t:{airs}:F> (<t:{airs}:R>)"
    assert fields["Previous episode"] == "S1E2 (not open yet)"
    assert fields["Rating"] == "No votes yet: rate it with the buttons below."
    assert "Spoiler rule" in embed["description"]
    episode_id = int(_custom_ids(starter["components"])[0].split(":")[2])
    assert _custom_ids(starter["components"]) == [f"ep:rate:{episode_id}:{n}" for n in range(1, 6)] + [
        f"ep:join:{episode_id}"]

    # Asking again links the same thread.
    await _watched_all(fake, g, g.member("admin"))
    assert await _thread(fake, g, g.member("admin"), "3") == (
        f"The discussion for Trauma Code S1E3 is here: <#{thread_id}>")
    assert len(_thread_posts(fake)) == 1

    # Opening S1E4 edits S1E3's starter to link forward.
    mark = fake.mark()
    await _thread(fake, g, g.member("admin"), "S1E4")
    edit = await fake.wait_for_request("PATCH", "/channels/{channel_id}/messages/{message_id}", since=mark)
    new_thread = int(_thread_posts(fake)[-1].response["id"])
    assert edit.params["message_id"] == str(thread_id)
    next_field = next(f for f in edit.json["embeds"][0]["fields"] if f["name"] == "Next episode")
    assert next_field["value"] == f"S1E4: <#{new_thread}>"


async def test_text_channel_thread_under_starter_message(fake, bot):
    g = fake.default_guild
    general = g.channel("general")
    await _discussion(bot, g, general)
    await _preset(fake, g)
    await _watched_all(fake, g, g.member("fan1"))
    mark = fake.mark()
    content = await _thread(fake, g, g.member("fan1"), "S1E1")
    starter_post = fake.requests_to("POST", "/channels/{channel_id}/messages")[-1]
    assert starter_post.params["channel_id"] == str(general.id)
    assert starter_post.json["embeds"][0]["title"] == "Trauma Code: Heroes on Call · S1E1"
    [thread_post] = _thread_posts(fake, mark)
    assert thread_post.template == MESSAGE_THREADS
    assert thread_post.params["message_id"] == starter_post.response["id"]
    assert thread_post.json["name"] == "Trauma Code · S1E1 · Discussion"
    assert content == f"Opened the discussion for Trauma Code S1E1: <#{thread_post.response['id']}>"


async def test_two_concurrent_requests_make_one_thread(fake, bot):
    g = fake.default_guild
    await _discussion(bot, g, g.channel("episode-discussion"))
    await _preset(fake, g)
    for name in ("fan1", "fan2"):
        await _watched_all(fake, g, g.member(name))
    handles = await asyncio.gather(*(fake.slash(g, g.member(name), "episode thread", show="trauma-code",
                                                episode="S1E5") for name in ("fan1", "fan2")))
    contents = []
    for ix in handles:
        await ix.response()
        contents.append((await ix.wait_original())["content"])
    [post] = _thread_posts(fake)
    thread_id = post.response["id"]
    assert sorted(contents) == sorted([f"Opened the discussion for Trauma Code S1E5: <#{thread_id}>",
                                       f"The discussion for Trauma Code S1E5 is here: <#{thread_id}>"])


async def test_deleted_thread_is_recreated_and_archived_one_reopened(fake, bot):
    g = fake.default_guild
    await _discussion(bot, g, g.channel("episode-discussion"))
    await _preset(fake, g)
    admin = g.member("admin")
    await _watched_all(fake, g, admin)
    await _thread(fake, g, admin, "2")
    first = int(_thread_posts(fake)[-1].response["id"])

    fake.archive_thread(fake.channels[first])
    mark = fake.mark()
    assert await _thread(fake, g, admin, "2") == f"Reopened the discussion for Trauma Code S1E2: <#{first}>"
    [patch] = [r for r in fake.requests[mark:] if r.method == "PATCH" and r.template == "/channels/{channel_id}"]
    assert patch.json == {"archived": False}
    assert not fake.channels[first].archived

    fake.delete_channel(fake.channels[first])
    content = await _thread(fake, g, admin, "2")
    second = int(_thread_posts(fake)[-1].response["id"])
    assert second != first
    assert content == f"The old thread was deleted, so I opened a new one for Trauma Code S1E2: <#{second}>"
    assert len(_thread_posts(fake)) == 2


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


async def test_thread_locked_in_discord_is_never_reopened_for_a_fan_nor_a_moderator(fake, bot):
    g = fake.default_guild
    thread_id, episode_id = await _forum_thread(fake, bot, "S1E2")
    fake.archive_thread(fake.channels[thread_id], locked=True)  # a moderator locked it in Discord's own menu
    await asyncio.sleep(0.05)
    await _watched_all(fake, g, g.member("fan1"))
    for member, locale, expected in (
        ("fan1", "en-US", f"The discussion for Trauma Code S1E2 is locked, but you can read it: <#{thread_id}>"),
        ("admin", "ko", f"Trauma Code S1E2 토론은 잠겼지만 읽을 수 있어요: <#{thread_id}>"),
    ):
        mark = fake.mark()
        assert await _thread(fake, g, g.member(member), "S1E2", locale=locale) == expected
        assert fake.requests_to("PATCH", EDIT_CHANNEL, since=mark) == []
        assert _thread_posts(fake, mark) == []
    ix = await fake.click(thread_id, f"ep:join:{episode_id}", g.member("fan2"))
    [followup] = await ix.followups(1)
    assert followup["content"].startswith("This discussion is locked (read-only), so I couldn't add you")
    assert fake.requests_to("PUT", "/channels/{channel_id}/thread-members/{user_id}") == []
    assert fake.channels[thread_id].locked and fake.channels[thread_id].archived
    assert (await bot.get_cog("Episodes").service.repo.get_thread(episode_id)).state == "locked"


async def test_deleted_text_channel_starter_is_reposted_and_its_buttons_work(fake, bot):
    g = fake.default_guild
    general = g.channel("general")
    starter_id, thread_id, episode_id = await _text_thread(fake, bot, "S1E1")
    fake.delete_message(general.id, starter_id)
    await asyncio.sleep(0.05)
    mark = fake.mark()
    await _thread(fake, g, g.member("admin"), "S1E2")  # S1E1's starter must now link forward: it is gone
    repost = await fake.wait_for_request("POST", "/channels/{channel_id}/messages",
                                         lambda r: r.params["channel_id"] == str(general.id)
                                         and r.json["embeds"][0]["title"].endswith("S1E1"), since=mark)
    assert repost.json["allowed_mentions"] == {"parse": []}
    assert _custom_ids(repost.json["components"]) == [f"ep:rate:{episode_id}:{n}" for n in range(1, 6)] + [
        f"ep:join:{episode_id}"]
    second = int(_thread_posts(fake, mark)[-1].response["id"])
    next_field = next(f for f in repost.json["embeds"][0]["fields"] if f["name"] == "Next episode")
    assert next_field["value"] == f"S1E2: <#{second}>"
    new_id = int(repost.response["id"])
    stored = await bot.get_cog("Episodes").service.repo.get_thread(episode_id)
    assert (stored.thread_id, stored.starter_message_id) == (thread_id, new_id)

    ix = await fake.click(new_id, f"ep:rate:{episode_id}:5", g.member("fan1"))
    [followup] = await ix.followups(1)
    assert followup["content"].startswith("You rated this episode 5 ★.")
    rating = next(f for f in fake.message(new_id)["embeds"][0]["fields"] if f["name"] == "Rating")
    assert rating["value"] == "★ 5.00 · votes: 1\n██████████"


async def test_deleted_forum_starter_gets_a_new_message_with_the_buttons_in_the_post(fake, bot):
    g = fake.default_guild
    thread_id, episode_id = await _forum_thread(fake, bot, "S1E1")
    fake.delete_message(thread_id, thread_id)
    await asyncio.sleep(0.05)
    mark = fake.mark()
    await _thread(fake, g, g.member("admin"), "S1E2")
    repost = await fake.wait_for_request("POST", "/channels/{channel_id}/messages",
                                         lambda r: r.params["channel_id"] == str(thread_id), since=mark)
    assert _custom_ids(repost.json["components"])[-1] == f"ep:join:{episode_id}"
    new_id = int(repost.response["id"])
    stored = await bot.get_cog("Episodes").service.repo.get_thread(episode_id)
    assert (stored.thread_id, stored.starter_message_id) == (thread_id, new_id)
    ix = await fake.click(new_id, f"ep:rate:{episode_id}:3", g.member("fan2"))
    await ix.followups(1)
    rating = next(f for f in fake.message(new_id)["embeds"][0]["fields"] if f["name"] == "Rating")
    assert rating["value"].startswith("★ 3.00 · votes: 1")


async def test_thread_made_before_a_crash_is_adopted_after_the_server_language_changed(fake, runner):
    g = fake.default_guild
    bot = await runner.start()
    await _discussion(bot, g, g.channel("episode-discussion"))
    await _preset(fake, g)
    await _watched_all(fake, g, g.member("admin"))
    await _thread(fake, g, g.member("admin"), "S1E3")
    [post] = _thread_posts(fake)
    assert post.json["name"] == "Trauma Code · S1E3 · Discussion"
    thread_id = int(post.response["id"])
    # The bot made the thread and died before recording it; meanwhile the server switched to Korean.
    await bot.db.execute("DELETE FROM episode_threads WHERE thread_id = ?", (thread_id,))
    await runner.kill()
    await fake.wait_for_no_connection()
    g.preferred_locale = "ko"
    bot = await runner.start()
    mark = fake.mark()
    assert await _thread(fake, g, g.member("admin"), "S1E3", locale="ko") == (
        f"Trauma Code S1E3 토론을 열었어요: <#{thread_id}>")
    assert _thread_posts(fake, mark) == []
    stored = await bot.get_cog("Episodes").service.repo.get_thread(
        int(_custom_ids(fake.message(thread_id)["components"])[0].split(":")[2]))
    assert stored.thread_id == thread_id
    assert fake.message(thread_id)["embeds"][0]["fields"][0]["name"] == "방영"  # adopted and refreshed


async def test_refusals(fake, bot):
    g = fake.default_guild
    general = g.channel("general")
    await _add_show(fake, g)
    fan = g.member("fan1")
    await bot.settings_service.set_role(g.id, "moderator", g.role("Moderator").id)
    later = (datetime.now(UTC) + timedelta(days=3)).isoformat(timespec="minutes")
    await _add_episode(fake, g, 1, later)

    # A fan using an admin command (every refusal is answered to the member alone: `answer` checks it).
    refusal = await answer(fake, g, fan, "episode add", show="night-shift", season=1, episode=2)
    assert refusal == "Only moderators (Manage Server or the moderator role) can do this."
    # No discussion channel yet (moderator may open an unaired episode).
    mod = g.member("mod")
    await answer(fake, g, mod, "progress set", show="night-shift", episode="1")
    assert await answer(fake, g, g.member("admin"), "episode thread", show="night-shift", episode="1") == (
        "No discussion channel is set up. An admin can choose one with /config channel kind:discussion.")
    # A fan asking for an episode that has not aired (the command answers "thinking" at once, then the refusal).
    refusal = (await reply(fake, g, fan, "episode thread", deferred=True, show="night-shift", episode="1"))["content"]
    assert refusal.startswith("S1E1 airs <t:") and "only moderators can open it earlier" in refusal
    # Episode beyond the season and unknown show.
    assert await answer(fake, g, fan, "episode thread", show="night-shift", episode="S1E9") == (
        "Season 1 of Night Shift has 1 episodes, so there is no episode 9.")
    refusal = await answer(fake, g, fan, "episode thread", show="nope", episode="1")
    assert refusal.startswith("I don't know a show called “nope” here.")
    # The bot lacking Create Public Threads in the text discussion channel.
    await _discussion(bot, g, general)
    fake.set_overwrite(general, fake.bot_member(g), deny=Perm.CREATE_PUBLIC_THREADS)
    await asyncio.sleep(0.05)
    mark = fake.mark()
    assert await answer(fake, g, mod, "episode thread", show="night-shift", episode="1") == (
        f"I can't open threads in <#{general.id}>: I'm missing Create Public Threads. Ask an admin to grant them.")
    assert _thread_posts(fake) == []
    assert fake.requests_to("POST", "/channels/{channel_id}/messages", since=mark) == []  # no starter either


async def test_korean_main_path(fake, bot):
    g = fake.default_guild
    await _discussion(bot, g, g.channel("episode-discussion"))
    said = await _preset(fake, g, locale="ko")
    show = "Trauma Code: Heroes on Call (중증외상센터)"
    assert said == (f"{show}을(를) 설치했어요: 에피소드 8개, 공개 때 모든 스레드.\n이미 공개된 에피소드가 8개 "
                    "있어요. 공개된 에피소드의 스레드는 저절로 열리지 않아요. /show open show:trauma-code로 "
                    "한 번에 열 수 있어요.")
    fan = g.member("fan1")
    ix = await fake.slash(g, fan, "progress set", show="trauma-code", episode="S1E8", locale="ko")
    assert (await ix.response()).content == f"저장했어요: {show}을(를) S1E8까지 봤어요."
    ix = await fake.slash(g, fan, "episode thread", show="trauma-code", episode="S1E1", locale="ko")
    await ix.response()
    original = await ix.wait_original()
    thread_id = _thread_posts(fake)[-1].response["id"]
    assert original["content"] == f"Trauma Code S1E1 토론을 열었어요: <#{thread_id}>"
    ix = await fake.slash(g, fan, "episode ratings", show="trauma-code", locale="ko")
    resp = await ix.response()
    assert resp.ephemeral
    assert resp.embeds[0]["title"] == "Trauma Code: Heroes on Call: 에피소드 평점"
    assert resp.embeds[0]["footer"]["text"] == "🏆 에피소드마다 3표 이상 모이면 최고 에피소드를 표시해요."


async def test_korean_server_gets_a_korean_starter_message(fake, runner):
    g = fake.default_guild
    g.preferred_locale = "ko"
    bot = await runner.start()
    await _discussion(bot, g, g.channel("episode-discussion"))
    await _preset(fake, g)
    await _watched_all(fake, g, g.member("admin"))
    await _thread(fake, g, g.member("admin"), "S1E2")
    post = _thread_posts(fake)[-1].json
    assert post["name"] == "Trauma Code · S1E2 · 토론"
    starter = post["message"]
    embed = starter["embeds"][0]
    assert embed["description"].startswith("*중증외상센터*\n🛑 **스포일러 규칙:** 이 에피소드와 이전 에피소드는")
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert list(fields) == ["방영", "이전 에피소드", "다음 에피소드", "평점"]
    assert fields["이전 에피소드"] == "S1E1 (아직 안 열림)"
    assert fields["평점"] == "아직 평가가 없어요: 아래 버튼으로 평가해 주세요."
    assert embed["footer"]["text"] == "아래에서 1–5점으로 평가하세요. 언제든 바꿀 수 있어요."
    labels = [c["label"] for row in starter["components"] for c in row["components"]]
    assert labels == [f"{n} ★" for n in range(1, 6)] + ["다 봤어요 — 토론 참여하기"]


async def test_lock_archives_and_locks_and_show_remove_keeps_threads(fake, bot):
    g = fake.default_guild
    await _discussion(bot, g, g.channel("episode-discussion"))
    await _preset(fake, g)
    admin = g.member("admin")
    await _watched_all(fake, g, admin)
    await _thread(fake, g, admin, "S1E6")
    thread_id = int(_thread_posts(fake)[-1].response["id"])

    ix = await fake.slash(g, g.member("fan1"), "episode lock", show="trauma-code", episode="S1E6")
    assert (await ix.response()).content == "Only moderators (Manage Server or the moderator role) can do this."
    ix = await fake.slash(g, admin, "episode lock", show="trauma-code", episode="S1E6")
    await ix.response()
    [followup] = await ix.followups(1)
    assert followup["content"] == f"Locked and archived <#{thread_id}>."
    patch = fake.requests_to("PATCH", "/channels/{channel_id}")[-1]
    assert patch.json == {"archived": True, "locked": True}
    assert fake.channels[thread_id].locked
    # A locked thread is linked, not reopened.
    assert await _thread(fake, g, admin, "S1E6") == (
        f"The discussion for Trauma Code S1E6 is locked, but you can read it: <#{thread_id}>")

    ix = await fake.slash(g, admin, "show remove", show="trauma-code")
    question = await ix.response()
    assert question.ephemeral and question.content.startswith("Remove Trauma Code: Heroes on Call (중증외상센터)")
    click = await fake.click(ix.original(), "ep:confirm", admin)
    await click.response()
    done = await ix.wait_original(lambda m: not m.get("components"))
    assert done["content"] == ("Removed Trauma Code: Heroes on Call (중증외상센터) and its schedule, ratings and "
                               "progress. Its threads stay in Discord.")
    assert not fake.channels[thread_id].deleted
    assert fake.requests_to("DELETE", "/channels/{channel_id}") == []
    ix = await fake.slash(g, admin, "episode ratings", show="trauma-code")
    assert (await ix.response()).content.startswith("I don't know a show called “trauma-code” here.")


async def test_lock_by_the_moderator_role_without_manage_server(fake, bot):
    g = fake.default_guild
    # /show is not hidden behind Manage Server: moderators by role use it too (checked by the bot).
    assert fake.commands()["show"]["default_member_permissions"] is None
    await _discussion(bot, g, g.channel("episode-discussion"))
    await bot.settings_service.set_role(g.id, "moderator", g.role("Moderator").id)
    await _preset(fake, g)
    mod = g.member("mod")
    await _watched_all(fake, g, mod)
    await _thread(fake, g, mod, "S1E4")
    thread_id = int(_thread_posts(fake)[-1].response["id"])

    ix = await fake.slash(g, g.member("fan2"), "episode lock", show="trauma-code", episode="S1E4")
    resp = await ix.response()
    assert resp.ephemeral and resp.content == "Only moderators (Manage Server or the moderator role) can do this."
    assert not fake.channels[thread_id].locked

    ix = await fake.slash(g, mod, "episode lock", show="trauma-code", episode="S1E4")
    assert not int(ix.payload["member"]["permissions"]) & (1 << 5)  # no Manage Server
    await ix.response()
    [followup] = await ix.followups(1)
    assert followup["content"] == f"Locked and archived <#{thread_id}>."
    assert fake.channels[thread_id].locked and fake.channels[thread_id].archived
