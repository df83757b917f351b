"""Ratings end to end: votes from the starter buttons, the live average on the starter (also in archived
and locked forum posts, and under concurrent votes), the ratings table, and failed votes."""

import asyncio
import re

from tests.e2e.episode_steps import (
    EDIT_CHANNEL,
    EDIT_MESSAGE,
    EPHEMERAL,
    UNEXPECTED,
    _forum_thread,
    _rating,
)


async def test_ratings_votes_change_and_table(fake, runner):
    bot = await runner.start()
    g = fake.default_guild
    thread_id, episode_id = await _forum_thread(fake, bot, "S1E1")
    starter = fake.message(thread_id)
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


async def test_concurrent_votes_leave_the_latest_totals_on_the_starter(fake, bot):
    g = fake.default_guild
    thread_id, episode_id = await _forum_thread(fake, bot, "S1E1")
    starter = fake.message(thread_id)
    # The first edit of the starter is rate limited: it is retried late, while the other votes wait their turn.
    fake.rate_limit("PATCH", EDIT_MESSAGE, times=1, retry_after=0.3)
    voters = {"fan1": 5, "fan2": 4, "fan3": 3, "mod": 5, "owner": 2}
    mark = fake.mark()
    clicks = await asyncio.gather(*(fake.click(starter["id"], f"ep:rate:{episode_id}:{stars}", g.member(name))
                                    for name, stars in voters.items()))
    for ix in clicks:
        assert (await ix.response()).type == 6
        [followup] = await ix.followups(1)
        assert followup["flags"] & EPHEMERAL and followup["content"].startswith("You rated this episode ")
    edits = [r for r in fake.requests_to("PATCH", EDIT_MESSAGE, since=mark) if r.status == 200]
    assert edits and all(r.params["message_id"] == starter["id"] for r in edits)

    def rating(embeds):
        return next(f["value"] for f in embeds[0]["fields"] if f["name"] == "Rating")

    assert rating(edits[-1].json["embeds"]) == "★ 3.80 · votes: 5\n████████░░"
    assert rating(fake.message(starter["id"])["embeds"]) == "★ 3.80 · votes: 5\n████████░░"
    shown = [int(re.search(r"· votes: (\d+)", rating(r.json["embeds"]))[1]) for r in edits]
    assert shown == sorted(shown)


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
    rating = await bot.get_cog("Episodes").service.ratings.rating(episode_id)
    assert (rating.count, rating.average) == (1, 5.0)


async def test_vote_failing_in_the_database_answers_with_a_reference(fake, bot):
    g = fake.default_guild
    thread_id, episode_id = await _forum_thread(fake, bot)
    await bot.db.execute("DROP TABLE episode_ratings")
    ix = await fake.click(thread_id, f"ep:rate:{episode_id}:4", g.member("fan2"))
    assert (await ix.response()).type == 6
    [followup] = await ix.followups(1)
    assert followup["flags"] & EPHEMERAL and followup["content"].startswith(UNEXPECTED["en-US"])
