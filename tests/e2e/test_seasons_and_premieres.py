"""Seasons announced before their dates, end to end: /show season add (to be announced) → edit with a date →
a countdown post (pinned) and a Discord event → the date moved (both edited) → the premiere opens the threads
and the post links them; withdrawing the date and removing the season; bad input writing nothing; Korean."""

from datetime import UTC, datetime, timedelta

from tests.e2e.episode_steps import EPHEMERAL, _discussion, _preset, _thread, _thread_posts

THREADS = "/channels/{channel_id}/threads"
EVENTS = "/guilds/{guild_id}/scheduled-events"
EVENT = "/guilds/{guild_id}/scheduled-events/{guild_scheduled_event_id}"
EDIT_MESSAGE = "/channels/{channel_id}/messages/{message_id}"


async def _answer(fake, g, command, member="admin", locale="en-US", **options):
    """The ephemeral reply of a command (deferred ones: the filled-in original)."""
    ix = await fake.slash(g, g.member(member), command, locale=locale, **options)
    resp = await ix.response()
    assert resp.ephemeral or resp.flags & EPHEMERAL
    if resp.type == 5:
        return (await ix.wait_original(lambda m: m.get("content")))["content"]
    return resp.content


def _iso(moment):
    return moment.isoformat(timespec="milliseconds")


def _premiere_posts(fake, forum):
    return [r for r in fake.requests_to("POST", THREADS)
            if r.params["channel_id"] == str(forum.id) and "premiere" in r.json["name"]]


async def _service_state(bot, g, season=2):
    service = bot.get_cog("Episodes").service
    show = await service.lookup.show(g.id, "trauma-code")
    return await service.repo.get_season(show.id, season), await service.lookup.episodes(show, season)


async def test_season_from_tba_to_premiere_with_countdown_event_and_linked_threads(fake, bot):
    g = fake.default_guild
    forum = g.channel("episode-discussion")
    await _discussion(bot, g, forum)
    await _preset(fake, g)

    # To be announced, two episodes: no air time, nothing posted, nothing opens.
    reply = await _answer(fake, g, "show season add", show="trauma-code", season=2, episodes=2)
    assert reply == ("Added Trauma Code: Heroes on Call (중증외상센터) season 2: premiere to be announced; "
                     "2 episodes.")
    season, episodes = await _service_state(bot, g)
    assert season.premiere_at is None and [e.airs_at for e in episodes] == [None, None]
    assert g.scheduled_events == {} and _premiere_posts(fake, forum) == []
    assert await _thread(fake, g, g.member("fan1"), "S2E1") == (
        "S2E1 has no air time yet, so only moderators can open its thread.")
    assert await _answer(fake, g, "episode ratings", member="fan1", show="trauma-code", season=2) == (
        "No episode of season 2 of Trauma Code: Heroes on Call has aired yet.")
    assert await _answer(fake, g, "progress set", member="fan1", show="trauma-code", episode="S2E1") == (
        "No episode of season 2 of Trauma Code: Heroes on Call has aired yet.")
    assert await _answer(fake, g, "progress set", member="fan2", show="trauma-code", episode="S2E1", locale="ko") == (
        "Trauma Code: Heroes on Call 시즌 2은(는) 아직 공개된 에피소드가 없어요.")
    assert await _answer(fake, g, "episode ratings", member="fan2", show="trauma-code", season=2, locale="ko") == (
        "Trauma Code: Heroes on Call 시즌 2은(는) 아직 공개된 에피소드가 없어요.")
    ix = await fake.slash(g, g.member("fan1"), "progress show")
    assert (await ix.response()).content.startswith("You haven't recorded any progress yet.")

    # A date two days ahead: a countdown post (pinned) and an external event at Netflix.
    first = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    reply = await _answer(fake, g, "show season edit", show="trauma-code", season=2, premiere=_iso(first))
    stamp = int(first.timestamp())
    assert reply == (f"Saved Trauma Code: Heroes on Call (중증외상센터) season 2: premiere <t:{stamp}:F> "
                     f"(<t:{stamp}:R>); 2 episodes.")
    [post] = _premiere_posts(fake, forum)
    assert post.json["name"] == "Trauma Code · Season 2 premiere"
    announcement = int(post.response["id"])
    embed = post.json["message"]["embeds"][0]
    assert embed["title"] == "Trauma Code: Heroes on Call · Season 2"
    assert f"<t:{stamp}:R>" in embed["description"] and "on Netflix" in embed["description"]
    assert announcement in fake.pins.get(announcement, {})
    [event] = g.scheduled_events.values()
    assert (event.name, event.entity_type, event.location) == (
        "Trauma Code: Heroes on Call · Season 2 premiere", 3, "Netflix")
    assert datetime.fromisoformat(event.scheduled_start_time) == first

    # Moved: the same event and the same post are edited.
    moved = first + timedelta(days=1)
    mark = fake.mark()
    await _answer(fake, g, "show season edit", show="trauma-code", season=2, premiere=_iso(moved))
    patch = await fake.wait_for_request("PATCH", EVENT, since=mark)
    assert datetime.fromisoformat(patch.json["scheduled_start_time"]) == moved
    assert list(g.scheduled_events) == [event.id]
    assert datetime.fromisoformat(event.scheduled_start_time) == moved
    edit = await fake.wait_for_request("PATCH", EDIT_MESSAGE, since=mark)
    assert edit.params["message_id"] == str(announcement)
    assert f"<t:{int(moved.timestamp())}:R>" in edit.json["embeds"][0]["description"]
    assert len(_premiere_posts(fake, forum)) == 1

    # Seconds ahead: at the premiere both threads open and the post links them.
    soon = datetime.now(UTC) + timedelta(seconds=2)
    mark = fake.mark()
    await _answer(fake, g, "show season edit", show="trauma-code", season=2, premiere=_iso(soon))
    assert _thread_posts(fake, mark) == []
    for number in (1, 2):
        await fake.wait_for_request("POST", THREADS, lambda r, n=number: f"S2E{n}" in r.json["name"], since=mark,
                                    timeout=8)
    linked = await fake.wait_for_request(
        "PATCH", EDIT_MESSAGE,
        lambda r: r.params["message_id"] == str(announcement)
        and all(f"S2E{n}:" in str(r.json.get("embeds")) for n in (1, 2)),  # both threads open at once: either may
        since=mark, timeout=8)                                             # edit the post first, alone
    threads = {r.json["name"]: int(r.response["id"]) for r in _thread_posts(fake, mark)}
    field = next(f for f in linked.json["embeds"][0]["fields"] if f["name"] == "Episode threads")
    assert field["value"] == (f"S2E1: <#{threads['Trauma Code · S2E1 · Discussion']}>\n"
                              f"S2E2: <#{threads['Trauma Code · S2E2 · Discussion']}>")


async def test_withdrawn_date_and_removed_season_delete_the_event_and_mark_the_post(fake, bot):
    g = fake.default_guild
    forum = g.channel("episode-discussion")
    await _discussion(bot, g, forum)
    await _preset(fake, g)
    premiere = datetime.now(UTC) + timedelta(days=10)
    await _answer(fake, g, "show season add", show="trauma-code", season=2, premiere=_iso(premiere), episodes=3,
                  pace="daily")
    [post] = _premiere_posts(fake, forum)
    announcement = int(post.response["id"])
    assert len(g.scheduled_events) == 1

    mark = fake.mark()
    reply = await _answer(fake, g, "show season edit", show="trauma-code", season=2, premiere="tba")
    assert reply.endswith("season 2: premiere to be announced; 3 episodes.")
    assert g.scheduled_events == {}
    edit = await fake.wait_for_request("PATCH", EDIT_MESSAGE, since=mark)
    assert edit.json["embeds"][0]["description"].startswith("~~The premiere date was withdrawn.~~")
    season, episodes = await _service_state(bot, g)
    assert season.premiere_at is None and [e.airs_at for e in episodes] == [None] * 3

    # A date again: the same post comes back to life, with a new event.
    again = datetime.now(UTC) + timedelta(days=20)
    await _answer(fake, g, "show season edit", show="trauma-code", season=2, premiere=_iso(again))
    assert len(_premiere_posts(fake, forum)) == 1 and len(g.scheduled_events) == 1

    # Removed (after a confirmation): the event is deleted and the post marked; threads stay.
    ix = await fake.slash(g, g.member("admin"), "show season remove", show="trauma-code", season=2)
    question = await ix.response()
    assert question.content == ("Remove season 2 of Trauma Code: Heroes on Call (중증외상센터) with its episodes' "
                                "schedule and ratings? Its Discord threads are kept.")
    mark = fake.mark()
    click = await fake.click(question.message, "ep:confirm", g.member("admin"))
    await click.response()
    done = await ix.wait_original(lambda m: not m.get("components"))
    assert done["content"].startswith("Removed season 2 of Trauma Code")
    assert g.scheduled_events == {}
    edit = await fake.wait_for_request("PATCH", EDIT_MESSAGE, since=mark)
    assert edit.params["message_id"] == str(announcement)
    assert edit.json["embeds"][0]["description"] == "~~Season 2 was removed from the schedule.~~"
    assert await _service_state(bot, g) == (None, [])
    assert not fake.channels[announcement].deleted


async def test_bad_season_input_is_explained_and_writes_nothing(fake, bot):
    g = fake.default_guild
    await _discussion(bot, g, g.channel("episode-discussion"))
    await _preset(fake, g)
    await _thread(fake, g, g.member("admin"), "S1E5")
    past = _iso(datetime.now(UTC) - timedelta(hours=1))
    cases = [
        ("show season add", {"show": "nope", "season": 2}, "I don't know a show called “nope” here."),
        ("show season add", {"show": "trauma-code", "season": 1},
         "Trauma Code: Heroes on Call already has a season 1. Change it with /show season edit."),
        ("show season add", {"show": "trauma-code", "season": 2, "premiere": past},
         "That premiere is in the past."),
        ("show season edit", {"show": "trauma-code", "season": 3, "episodes": 4},
         "Trauma Code: Heroes on Call has no season 3."),
        ("show season edit", {"show": "trauma-code", "season": 1, "episodes": 4},
         "Season 1 can't have only 4 episodes: episode 5 already has a discussion thread."),
        ("show season remove", {"show": "trauma-code", "season": 4}, "Trauma Code: Heroes on Call has no season 4."),
        ("show season add", {"show": "trauma-code", "season": 2, "premiere": "whenever"},
         "I could not read the air time “whenever”"),
    ]
    for command, options, expected in cases:
        assert (await _answer(fake, g, command, **options)).startswith(expected), (command, options)
    resp = await (await fake.slash(g, g.member("fan1"), "show season add", show="trauma-code", season=2)).response()
    assert resp.content == "Only moderators (Manage Server or the moderator role) can do this."
    service = bot.get_cog("Episodes").service
    show = await service.lookup.show(g.id, "trauma-code")
    assert [s.number for s in await service.repo.list_seasons(show.id)] == [1]  # the preset's
    assert len(await service.lookup.episodes(show)) == 8
    assert g.scheduled_events == {}
    # Korean.
    assert await _answer(fake, g, "show season add", locale="ko", show="trauma-code", season=1) == (
        "Trauma Code: Heroes on Call에는 이미 시즌 1이(가) 있어요. /show season edit으로 바꿀 수 있어요.")
    assert (await _answer(fake, g, "show season add", locale="ko", show="trauma-code", season=2,
                          premiere=past)).startswith("첫 공개일이 이미 지났어요.")


async def test_korean_server_gets_a_korean_countdown_and_korean_replies(fake, runner):
    g = fake.default_guild
    g.preferred_locale = "ko"
    bot = await runner.start()
    forum = g.channel("episode-discussion")
    await _discussion(bot, g, forum)
    await _preset(fake, g, locale="ko")
    premiere = datetime.now(UTC).replace(microsecond=0) + timedelta(days=5)
    reply = await _answer(fake, g, "show season add", locale="ko", show="trauma-code", season=2,
                          premiere=_iso(premiere))
    stamp = int(premiere.timestamp())
    assert reply == (f"Trauma Code: Heroes on Call (중증외상센터) 시즌 2을(를) 추가했어요: 첫 공개 <t:{stamp}:F> "
                     f"(<t:{stamp}:R>), 에피소드 수 미정.")
    [post] = _premiere_posts(fake, forum) or [r for r in fake.requests_to("POST", THREADS)
                                              if "첫 공개" in r.json["name"]]
    assert post.json["name"] == "Trauma Code · 시즌 2 첫 공개"
    assert post.json["message"]["embeds"][0]["description"].startswith("🎬 시즌 2이(가) ")
    [event] = g.scheduled_events.values()
    assert event.name == "Trauma Code: Heroes on Call · 시즌 2 첫 공개"


async def test_season_pickers_show_premieres_in_the_members_language_and_only_to_moderators(fake, bot):
    g = fake.default_guild
    await _preset(fake, g)
    await _answer(fake, g, "show season add", show="trauma-code", season=2, episodes=10)
    for locale, names in (("en-US", ["Season 1 · 2025-01-24 · 8 episodes", "Season 2 · to be announced · 10 episodes"]),
                          ("ko", ["시즌 1 · 2025-01-24 · 에피소드 8개", "시즌 2 · 미정 · 에피소드 10개"])):
        ac = await fake.autocomplete(g, g.member("admin"), "show season edit", focused="season", value="",
                                     show="trauma-code", locale=locale)
        assert [(c["name"], c["value"]) for c in (await ac.response()).choices] == list(zip(names, [1, 2],
                                                                                           strict=True))
    ac = await fake.autocomplete(g, g.member("admin"), "show season add", focused="season", value="",
                                 show="trauma-code")
    assert (await ac.response()).choices == [{"name": "Season 3 (new)", "value": 3}]
    # A fan: no choices for moderators' commands; only seasons and episodes that aired for /episode thread.
    ac = await fake.autocomplete(g, g.member("fan1"), "show season edit", focused="season", value="",
                                 show="trauma-code")
    assert (await ac.response()).choices == []
    ac = await fake.autocomplete(g, g.member("fan1"), "show season edit", focused="show", value="", season=1)
    assert (await ac.response()).choices == []
    ac = await fake.autocomplete(g, g.member("fan1"), "episode thread", focused="season", value="",
                                 show="trauma-code", episode="")
    assert [c["value"] for c in (await ac.response()).choices] == [1]
    ac = await fake.autocomplete(g, g.member("fan1"), "episode thread", focused="episode", value="",
                                 show="trauma-code", season=2)
    assert (await ac.response()).choices == []
    ac = await fake.autocomplete(g, g.member("admin"), "episode thread", focused="episode", value="S2E1",
                                 show="trauma-code", season=2)
    assert [c["name"] for c in (await ac.response()).choices] == ["S2E1 · not scheduled yet",
                                                                   "S2E10 · not scheduled yet"]
    ac = await fake.autocomplete(g, g.member("fan1"), "episode thread", focused="show", value="중증", episode="",
                                 locale="ko")
    assert (await ac.response()).choices == [{"name": "중증외상센터 (Trauma Code: Heroes on Call)",
                                              "value": "trauma-code"}]
    # /episode lock lists the episodes that have a thread; a typed id keeps working.
    await _discussion(bot, g, g.channel("episode-discussion"))
    await _thread(fake, g, g.member("admin"), "S1E2")
    ac = await fake.autocomplete(g, g.member("admin"), "episode lock", focused="episode", value="",
                                 show="trauma-code")
    assert [c["value"] for c in (await ac.response()).choices] == ["S1E2"]


async def test_removing_the_show_deletes_its_premiere_events(fake, bot):
    g = fake.default_guild
    await _discussion(bot, g, g.channel("episode-discussion"))
    await _preset(fake, g)
    await _answer(fake, g, "show season add", show="trauma-code", season=2,
                  premiere=_iso(datetime.now(UTC) + timedelta(days=3)))
    assert len(g.scheduled_events) == 1
    ix = await fake.slash(g, g.member("admin"), "show remove", show="trauma-code")
    question = await ix.response()
    await (await fake.click(question.message, "ep:confirm", g.member("admin"))).response()
    await ix.wait_original(lambda m: not m.get("components"))
    assert g.scheduled_events == {}


async def test_tba_season_dated_seconds_ahead_in_a_text_channel_premieres_with_linked_threads(fake, bot):
    g = fake.default_guild
    general = g.channel("general")
    await _discussion(bot, g, general)
    await _preset(fake, g)
    await _answer(fake, g, "show season add", show="trauma-code", season=2, episodes=1)
    soon = datetime.now(UTC) + timedelta(seconds=2)
    mark = fake.mark()
    reply = await _answer(fake, g, "show season edit", show="trauma-code", season=2, premiere=_iso(soon))
    assert "season 2: premiere <t:" in reply
    [post] = [r for r in fake.requests_to("POST", "/channels/{channel_id}/messages")[-1:]
              if r.params["channel_id"] == str(general.id)]
    announcement = int(post.response["id"])
    assert post.json["embeds"][0]["title"] == "Trauma Code: Heroes on Call · Season 2"
    assert announcement in fake.pins[general.id]
    [event] = g.scheduled_events.values()
    assert event.location == "Netflix"
    opened = await fake.wait_for_request("POST", "/channels/{channel_id}/messages/{message_id}/threads",
                                         lambda r: "S2E1" in r.json["name"], since=mark, timeout=8)
    linked = await fake.wait_for_request(
        "PATCH", EDIT_MESSAGE, lambda r: r.params["message_id"] == str(announcement), since=mark, timeout=8)
    field = next(f for f in linked.json["embeds"][0]["fields"] if f["name"] == "Episode threads")
    assert field["value"] == f"S2E1: <#{opened.response['id']}>"


async def test_event_and_post_deleted_in_discord_come_back_when_the_date_moves(fake, bot):
    g = fake.default_guild
    forum = g.channel("episode-discussion")
    await _discussion(bot, g, forum)
    await _preset(fake, g)
    premiere = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    await _answer(fake, g, "show season add", show="trauma-code", season=2, premiere=_iso(premiere))
    [post] = _premiere_posts(fake, forum)
    g.scheduled_events.clear()  # a moderator deleted both in Discord
    fake.delete_channel(fake.channels[int(post.response["id"])])
    await _answer(fake, g, "show season edit", show="trauma-code", season=2,
                  premiere=_iso(premiere + timedelta(days=1)))
    assert len(_premiere_posts(fake, forum)) == 2
    [event] = g.scheduled_events.values()
    assert datetime.fromisoformat(event.scheduled_start_time) == premiere + timedelta(days=1)
