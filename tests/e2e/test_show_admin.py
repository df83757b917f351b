"""/show end to end: importing schedules, autocompletion of shows and episodes, and /show open for
episodes that aired before the show was added."""

import itertools
from datetime import timedelta

from tests.e2e.episode_steps import (
    EPHEMERAL,
    _add_show,
    _discussion,
    _preset,
    _start_tuned,
    _thread_posts,
)
from tests.fakediscord.interactions import Attachment


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


async def test_autocomplete_show_and_episode(fake, bot):
    g = fake.default_guild
    await _preset(fake, g)
    ac = await fake.autocomplete(g, g.member("fan1"), "episode thread", focused="show", value="trau", episode="")
    assert [c["value"] for c in (await ac.response()).choices] == ["trauma-code"]
    ac = await fake.autocomplete(g, g.member("fan1"), "episode thread", focused="episode", value="",
                                 show="trauma-code")
    assert [c["value"] for c in (await ac.response()).choices] == [f"S1E{n}" for n in range(1, 9)]


async def test_new_episode_choice_in_autocomplete_speaks_the_members_language(fake, bot):
    g = fake.default_guild
    await _preset(fake, g)
    for locale, new in (("en-US", "E9 (new)"), ("ko", "E9 (새 에피소드)")):
        ac = await fake.autocomplete(g, g.member("admin"), "episode add", focused="episode", value="",
                                     show="trauma-code", season=1, locale=locale)
        choices = (await ac.response()).choices
        assert choices[0] == {"name": new, "value": 9}
        assert [c["value"] for c in choices[1:]] == list(range(1, 9))


async def test_show_open_opens_every_aired_thread_once(fake, runner, monkeypatch):
    bot = await _start_tuned(runner, monkeypatch, bulk_open_spacing=timedelta(seconds=0.05))
    g = fake.default_guild
    forum = g.channel("episode-discussion")
    await _discussion(bot, g, forum)
    await _preset(fake, g)
    assert _thread_posts(fake) == []  # a preset of an aired show opens nothing by itself

    ix = await fake.slash(g, g.member("fan1"), "show open", show="trauma-code")
    assert (await ix.response()).content == "Only moderators (Manage Server or the moderator role) can do this."

    ix = await fake.slash(g, g.member("admin"), "show open", show="trauma-code")
    assert (await ix.response()).type == 5
    [done] = await ix.followups(1)
    assert done["flags"] & EPHEMERAL
    assert done["content"] == ("Trauma Code: Heroes on Call (중증외상센터): opened 8 new threads, reopened 0, "
                               "0 were already open.")
    posts = _thread_posts(fake)
    assert [p.json["name"] for p in posts] == [f"Trauma Code · S1E{n} · Discussion" for n in range(1, 9)]
    gaps = [b.time - a.time for a, b in itertools.pairwise(posts)]
    assert all(gap >= timedelta(seconds=0.04) for gap in gaps)  # sequential and spaced
    # Each starter links its neighbours once they are open: S1E1's next field was edited to S1E2's thread.
    first, second = (int(p.response["id"]) for p in posts[:2])
    next_field = next(f for f in fake.message(first)["embeds"][0]["fields"] if f["name"] == "Next episode")
    assert next_field["value"] == f"S1E2: <#{second}>"

    mark = fake.mark()
    ix = await fake.slash(g, g.member("admin"), "show open", show="trauma-code", season=1)
    await ix.response()
    [again] = await ix.followups(1)
    assert again["content"] == ("Trauma Code: Heroes on Call (중증외상센터): opened 0 new threads, reopened 0, "
                                "8 were already open.")
    assert _thread_posts(fake, mark) == []


async def test_show_open_without_a_channel_says_what_to_fix(fake, bot):
    g = fake.default_guild
    await _preset(fake, g)
    ix = await fake.slash(g, g.member("admin"), "show open", show="trauma-code", locale="ko")
    await ix.response()
    [done] = await ix.followups(1)
    assert done["content"] == ("Trauma Code: Heroes on Call (중증외상센터): 새 스레드 0개를 열고 0개를 다시 열었어요. "
                               "0개는 이미 열려 있었어요.\nS1E1에서 멈췄어요: 토론 채널이 설정되지 않았어요. 관리자가 "
                               "/config channel kind:discussion으로 정할 수 있어요.")
    assert _thread_posts(fake) == []
