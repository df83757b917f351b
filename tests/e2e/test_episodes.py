"""Episode discussion threads end to end: the real bot against the fake Discord."""

import asyncio
from datetime import UTC, datetime, timedelta

from tests.fakediscord.interactions import Attachment
from tests.fakediscord.state import BOT_DEFAULT, Perm

EPHEMERAL = 64
THREADS = "/channels/{channel_id}/threads"
MESSAGE_THREADS = "/channels/{channel_id}/messages/{message_id}/threads"


async def _discussion(bot, g, channel):
    await bot.settings_service.set_channel(g.id, "discussion", channel.id)


async def _preset(fake, g, locale="en-US"):
    ix = await fake.slash(g, g.member("admin"), "show preset", name="trauma-code", locale=locale)
    return await ix.response()


async def _watched_all(fake, g, member):
    ix = await fake.slash(g, member, "progress set", show="trauma-code", episode="S1E8")
    assert (await ix.response()).ephemeral


async def _thread(fake, g, member, episode, **kwargs):
    """/episode thread; returns the final ephemeral text (after the spoiler confirmation when one is asked)."""
    ix = await fake.slash(g, member, "episode thread", show="trauma-code", episode=episode, **kwargs)
    resp = await ix.response()
    if resp.type == 4:
        return resp.content
    assert resp.type == 5 and resp.ephemeral
    original = await ix.wait_original()
    return original["content"]


def _thread_posts(fake, since=0):
    return [r for r in fake.requests[since:] if r.method == "POST" and r.template in (THREADS, MESSAGE_THREADS)]


def _custom_ids(components):
    return [c["custom_id"] for row in components for c in row["components"]]


async def test_preset_install_then_forum_thread_with_tags_is_idempotent(fake, bot):
    g = fake.default_guild
    forum = g.channel("episode-discussion")
    fake.set_role_permissions(g.role("Code Blue"), int(BOT_DEFAULT | Perm.MANAGE_CHANNELS))
    ix = await fake.slash(g, g.member("admin"), "config channel", kind="discussion", channel=forum)
    assert (await ix.response()).ephemeral

    resp = await _preset(fake, g)
    assert resp.ephemeral
    assert resp.content == ("Installed Trauma Code: Heroes on Call (중증외상센터): 8 episodes; "
                            "all threads at release.\n8 of its episodes have already aired, and threads of aired "
                            "episodes don't open by themselves. Open them all at once with /show open "
                            "show:trauma-code.")

    # No progress recorded: a spoiler check with Confirm/Cancel comes first.
    ix = await fake.slash(g, g.member("admin"), "episode thread", show="trauma-code", episode="S1E3")
    assert (await ix.response()).type == 5
    warning = await ix.wait_original(lambda m: m.get("components"))
    assert warning["flags"] & EPHEMERAL
    assert warning["content"].startswith("⚠️ Spoiler check: you've recorded watching up to nothing yet")
    assert _custom_ids(warning["components"]) == ["ep:confirm", "ep:cancel"]
    assert _thread_posts(fake) == []
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


async def _add_show(fake, g):
    ix = await fake.slash(g, g.member("admin"), "show add", title="Night Shift", pace="on_air")
    assert (await ix.response()).content.startswith("Added Night Shift (key `night-shift`)")


async def test_thread_opens_by_itself_at_air_time(fake, bot):
    g = fake.default_guild
    forum = g.channel("episode-discussion")
    await _discussion(bot, g, forum)
    await _add_show(fake, g)
    # Whole seconds: the air time is 2-3 s ahead, well clear of the command's own round trip.
    airs = (datetime.now(UTC) + timedelta(seconds=3)).isoformat(timespec="seconds")
    ix = await fake.slash(g, g.member("admin"), "episode add", show="night-shift", season=1, episode=1, airs=airs)
    assert (await ix.response()).content.startswith("Saved Night Shift S1E1; airs <t:")
    assert _thread_posts(fake) == []
    post = await fake.wait_for_request("POST", THREADS, timeout=8)
    assert post.json["name"] == "Night Shift · S1E1 · Discussion"
    await asyncio.sleep(0.2)
    assert len(_thread_posts(fake)) == 1


async def test_air_time_missed_while_down_opens_at_startup_once(fake, runner):
    bot = await runner.start()
    g = fake.default_guild
    await _discussion(bot, g, g.channel("episode-discussion"))
    await _add_show(fake, g)
    airs = (datetime.now(UTC) + timedelta(seconds=2)).isoformat(timespec="seconds")
    ix = await fake.slash(g, g.member("admin"), "episode add", show="night-shift", season=1, episode=1, airs=airs)
    await ix.response()
    await runner.stop()
    await asyncio.sleep(2.2)
    assert _thread_posts(fake) == []
    await runner.start()
    post = await fake.wait_for_request("POST", THREADS, timeout=5)
    assert post.json["name"] == "Night Shift · S1E1 · Discussion"
    await runner.restart()
    await asyncio.sleep(0.3)
    assert len(_thread_posts(fake)) == 1


async def test_ratings_votes_change_and_table(fake, runner):
    bot = await runner.start()
    g = fake.default_guild
    forum = g.channel("episode-discussion")
    await _discussion(bot, g, forum)
    await _preset(fake, g)
    await _watched_all(fake, g, g.member("admin"))
    await _thread(fake, g, g.member("admin"), "S1E1")
    starter = fake.message(_thread_posts(fake)[-1].response["id"])
    episode_id = _custom_ids(starter["components"])[0].split(":")[2]
    await runner.restart()  # the buttons are persistent

    async def vote(member, stars):
        mark = fake.mark()
        ix = await fake.click(starter["id"], f"ep:rate:{episode_id}:{stars}", member)
        assert (await ix.response()).type == 6  # acknowledged at once; the starter is edited through REST
        [followup] = await ix.followups(1)
        assert followup["flags"] & EPHEMERAL
        edit = await fake.wait_for_request("PATCH", "/channels/{channel_id}/messages/{message_id}", since=mark)
        assert edit.params["message_id"] == starter["id"]
        return next(f["value"] for f in edit.json["embeds"][0]["fields"] if f["name"] == "Rating"), followup

    await vote(g.member("fan1"), 5)
    rating, _ = await vote(g.member("fan2"), 3)
    assert rating == "★ 4.00 · votes: 2\n████████░░"
    rating, followup = await vote(g.member("fan2"), 4)  # changed, not added
    assert rating == "★ 4.50 · votes: 2\n█████████░"
    assert followup["content"] == "You rated this episode 4 ★. Now: ★ 4.50 · votes: 2\n█████████░"
    await vote(g.member("fan3"), 4)
    fields = {f["name"]: f["value"] for f in fake.message(starter["id"])["embeds"][0]["fields"]}
    assert fields["Rating"] == "★ 4.33 · votes: 3\n█████████░"

    ix = await fake.slash(g, g.member("fan1"), "episode ratings", show="trauma-code")
    resp = await ix.response()
    assert resp.ephemeral  # a lookup, in the member's language: nobody else needs to see it
    embed = resp.embeds[0]
    lines = embed["description"].split("\n")
    assert lines[0] == "`S1E1` █████████░ **4.33** · votes: 3 🏆"
    assert lines[1] == "`S1E2` ░░░░░░░░░░ **–** · votes: 0"
    assert len(lines) == 8
    assert embed["footer"]["text"] == "🏆 Best episode: S1E1"


async def test_join_button_adds_member_and_advances_progress(fake, bot):
    g = fake.default_guild
    await _discussion(bot, g, g.channel("episode-discussion"))
    await _preset(fake, g)
    await _watched_all(fake, g, g.member("admin"))
    await _thread(fake, g, g.member("admin"), "S1E2")
    post = _thread_posts(fake)[-1]
    thread_id = int(post.response["id"])
    episode_id = _custom_ids(post.json["message"]["components"])[-1].split(":")[2]
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


async def test_refusals(fake, bot):
    g = fake.default_guild
    general = g.channel("general")
    await _add_show(fake, g)
    fan = g.member("fan1")
    await bot.settings_service.set_role(g.id, "moderator", g.role("Moderator").id)
    later = (datetime.now(UTC) + timedelta(days=3)).isoformat(timespec="minutes")
    ix = await fake.slash(g, g.member("admin"), "episode add", show="night-shift", season=1, episode=1, airs=later)
    await ix.response()

    # A fan using an admin command.
    ix = await fake.slash(g, fan, "episode add", show="night-shift", season=1, episode=2)
    resp = await ix.response()
    assert resp.ephemeral and resp.content == "Only moderators (Manage Server or the moderator role) can do this."
    # No discussion channel yet (moderator may open an unaired episode).
    mod = g.member("mod")
    ix = await fake.slash(g, mod, "progress set", show="night-shift", episode="1")
    await ix.response()
    ix = await fake.slash(g, g.member("admin"), "episode thread", show="night-shift", episode="1")
    await ix.response()
    warning = await ix.wait_original(lambda m: m.get("components"))
    click = await fake.click(warning, "ep:confirm", g.member("admin"))
    await click.response()
    done = await ix.wait_original(lambda m: not m.get("components"))
    assert done["content"] == ("No discussion channel is set up. An admin can choose one with "
                               "/config channel kind:discussion.")
    # A fan asking for an episode that has not aired.
    ix = await fake.slash(g, fan, "episode thread", show="night-shift", episode="1")
    resp = await ix.response()
    assert resp.ephemeral
    assert resp.content.startswith("S1E1 airs <t:") and "only moderators can open it earlier" in resp.content
    # Episode beyond the season and unknown show.
    ix = await fake.slash(g, fan, "episode thread", show="night-shift", episode="S1E9")
    assert (await ix.response()).content == "Season 1 of Night Shift has 1 episodes, so there is no episode 9."
    ix = await fake.slash(g, fan, "episode thread", show="nope", episode="1")
    assert (await ix.response()).content.startswith("I don't know a show called “nope” here.")
    # The bot lacking Create Public Threads in the text discussion channel.
    await _discussion(bot, g, general)
    fake.set_overwrite(general, fake.bot_member(g), deny=Perm.CREATE_PUBLIC_THREADS)
    await asyncio.sleep(0.05)
    mark = fake.mark()
    ix = await fake.slash(g, mod, "episode thread", show="night-shift", episode="1")
    await ix.response()
    done = await ix.wait_original()
    assert done["content"] == (f"I can't open threads in <#{general.id}>: I'm missing Create Public Threads. "
                                   "Ask an admin to grant them.")
    assert _thread_posts(fake) == []
    assert fake.requests_to("POST", "/channels/{channel_id}/messages", since=mark) == []  # no starter either


async def test_import_with_bad_rows_writes_nothing(fake, bot):
    """The attachment is downloaded from the fake's CDN like from Discord's."""
    g = fake.default_guild
    await _add_show(fake, g)
    files = {
        "bad.csv": b"season,episode,title,airs\n1,1,Pilot,2026-04-01 21:00\n1,x,,2026-04-02 21:00\n",
        "good.csv": b"season,episode,title,airs\n1,1,Pilot,2026-04-01 21:00\n1,2,,2026-04-02 21:00\n",
    }
    ix = await fake.slash(g, g.member("admin"), "show import", show="night-shift",
                          file=Attachment("bad.csv", content=files["bad.csv"]))
    assert (await ix.response()).type == 5
    [followup] = await ix.followups(1)
    assert followup["content"] == ("Nothing was imported from “bad.csv”; fix these lines and try again:\n"
                                   "line 3: not a whole number: episode: x")
    ix = await fake.slash(g, g.member("fan1"), "episode ratings", show="night-shift")
    assert (await ix.response()).content == ("Night Shift has no episodes yet. An admin can add them with "
                                             "/episode add or /show import.")
    ix = await fake.slash(g, g.member("admin"), "show import", show="night-shift",
                          file=Attachment("good.csv", content=files["good.csv"]))
    await ix.response()
    [followup] = await ix.followups(1)
    assert followup["content"] == "Imported 2 episodes into Night Shift."


async def test_korean_main_path(fake, bot):
    g = fake.default_guild
    await _discussion(bot, g, g.channel("episode-discussion"))
    resp = await _preset(fake, g, locale="ko")
    show = "Trauma Code: Heroes on Call (중증외상센터)"
    assert resp.content == (f"{show}을(를) 설치했어요: 에피소드 8개, 공개 때 모든 스레드.\n이미 공개된 에피소드가 8개 "
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


async def test_autocomplete_show_and_episode(fake, bot):
    g = fake.default_guild
    await _preset(fake, g)
    ac = await fake.autocomplete(g, g.member("fan1"), "episode thread", focused="show", value="trau", episode="")
    assert [c["value"] for c in (await ac.response()).choices] == ["trauma-code"]
    ac = await fake.autocomplete(g, g.member("fan1"), "episode thread", focused="episode", value="",
                                 show="trauma-code")
    assert [c["value"] for c in (await ac.response()).choices] == [f"S1E{n}" for n in range(1, 9)]


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
