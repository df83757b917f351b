"""The watch-party repository against a real SQLite file."""

from datetime import UTC, datetime, timedelta

import pytest

from db.watchparties import NewParty, PartyLimitReached, WatchPartyRepository

REPOSITORY = WatchPartyRepository  # what `repo` is (tests/db/conftest.py)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
START = NOW + timedelta(days=2)


def new_party(host=10, guild=1, start=START, title="Ep 1"):
    return NewParty(guild_id=guild, channel_id=100, host_id=host, title=title, starts_at=start, duration_minutes=90,
                    zone="Asia/Seoul", show="Trauma Code", episode=1)


def plan(start=START):
    return [(3600, start - timedelta(hours=1)), (0, start)]


async def create(repo, *parties, max_guild=50, max_member=5):
    return await repo.create_parties(list(parties), [plan(p.starts_at) for p in parties], NOW,
                                     max_per_guild=max_guild, max_per_member=max_member)


async def test_create_round_trips_fields_and_reminders(repo):
    [party] = await create(repo, new_party())
    assert (party.title, party.show, party.episode, party.status, party.series_id) == \
        ("Ep 1", "Trauma Code", 1, "scheduled", None)
    assert party.starts_at == START and party.ends_at == START + timedelta(minutes=90)
    assert await repo.get(party.id) == party
    reminders = await repo.reminders(party.id)
    assert [(r.offset_seconds, r.fire_at, r.state) for r in reminders] == [
        (3600, START - timedelta(hours=1), "pending"), (0, START, "pending")]


async def test_series_shares_the_first_id(repo):
    parties = await create(repo, new_party(), new_party(start=START + timedelta(weeks=1)))
    assert [p.series_id for p in parties] == [parties[0].id, parties[0].id]


@pytest.mark.parametrize(("existing_host", "max_guild", "max_member", "scope"), [
    (10, 50, 1, "member"),   # the host already has one
    (11, 1, 5, "guild"),     # someone else filled the server
])
async def test_limits_refuse_and_write_nothing(repo, existing_host, max_guild, max_member, scope):
    await create(repo, new_party(host=existing_host))
    with pytest.raises(PartyLimitReached) as caught:
        await create(repo, new_party(host=10), max_guild=max_guild, max_member=max_member)
    assert caught.value.scope == scope
    assert await repo.count_upcoming(1) == 1


async def test_cancelled_parties_do_not_count_against_limits(repo):
    [party] = await create(repo, new_party())
    assert await repo.finish(party.id, "cancelled", NOW)
    assert not await repo.finish(party.id, "ended", NOW)  # only from scheduled
    await create(repo, new_party(), max_member=1)
    assert [r.state for r in await repo.reminders(party.id)] == ["skipped", "skipped"]


async def test_rsvp_upsert_and_dm_toggle(repo):
    [party] = await create(repo, new_party())
    assert await repo.toggle_dm(party.id, 7) is None  # no RSVP yet
    await repo.set_rsvp(party.id, 7, "Ana", "maybe", NOW)
    await repo.set_rsvp(party.id, 8, "Bo", "going", NOW)
    await repo.set_rsvp(party.id, 7, "Ana K", "going", NOW + timedelta(seconds=1))
    assert await repo.toggle_dm(party.id, 7) is True
    assert await repo.toggle_dm(party.id, 7) is False
    assert await repo.toggle_dm(party.id, 7) is True
    rsvps = await repo.rsvps(party.id)
    assert [(r.user_id, r.display_name, r.status, r.dm_reminders) for r in rsvps] == [
        (8, "Bo", "going", False), (7, "Ana K", "going", True)]


async def test_claim_is_exclusive_and_completion_needs_a_claim(repo):
    [party] = await create(repo, new_party())
    await repo.complete_reminder(party.id, 3600, "sent", NOW)  # not claimed: no effect
    assert (await repo.reminder(party.id, 3600)).state == "pending"
    assert await repo.claim_reminder(party.id, 3600, late=True)
    assert not await repo.claim_reminder(party.id, 3600, late=False)
    assert {r.offset_seconds: r.state for r in await repo.reminders(party.id)} == {3600: "sending", 0: "pending"}
    await repo.complete_reminder(party.id, 3600, "sent", NOW)
    reminder = await repo.reminder(party.id, 3600)
    assert (reminder.state, reminder.late, reminder.sent_at) == ("sent", True, NOW)
    assert [(w.offset_seconds, w.state) for w in await repo.due_work(START + timedelta(days=1))] == [
        (0, "pending"), (None, "end")]


async def test_due_work_is_the_window_of_reminders_and_ends_of_scheduled_parties(repo):
    soon, later = await create(repo, new_party(), new_party(host=11, start=START + timedelta(days=3)))
    [cancelled] = await create(repo, new_party(host=12))
    await repo.finish(cancelled.id, "cancelled", NOW)
    assert await repo.claim_reminder(soon.id, 3600, late=False)  # left 'sending' by a "crash"
    until = START + timedelta(minutes=90)  # soon's end is START + 90 min: not before `until`
    assert [(w.party_id, w.offset_seconds, w.due, w.state) for w in await repo.due_work(until)] == [
        (soon.id, 0, START, "pending")]
    with_end = await repo.due_work(until + timedelta(seconds=1))
    assert sorted((w.party_id, -1 if w.is_end else w.offset_seconds, w.state) for w in with_end) == [
        (soon.id, -1, "end"), (soon.id, 0, "pending")]  # never the reminder left 'sending'
    assert {w.starts_at for w in with_end} == {START}
    assert {w.ends_at for w in with_end} == {soon.ends_at}
    everything = await repo.due_work(START + timedelta(days=30))
    assert {w.party_id for w in everything} == {soon.id, later.id}  # never the cancelled party


async def test_interrupted_posts_are_listed_then_settled_once(repo):
    a, b, c = await create(repo, new_party(), new_party(host=11), new_party(host=12))
    claimed = NOW - timedelta(seconds=5)
    assert await repo.claim_reminder(a.id, 3600, late=False, claimed_at=claimed)
    assert await repo.claim_reminder(b.id, 0, late=True)
    assert await repo.claim_reminder(c.id, 0, late=False)
    interrupted = await repo.interrupted_reminders()
    assert [(r.party_id, r.offset_seconds, r.late, r.claimed_at) for r in interrupted] == [
        (a.id, 3600, False, claimed), (b.id, 0, True, None), (c.id, 0, False, None)]  # by due time
    assert await repo.finish_interrupted(a.id, 3600, "sent", NOW)  # found in the channel
    assert not await repo.finish_interrupted(a.id, 3600, "skipped", NOW)  # settled once
    assert await repo.finish_interrupted(b.id, 0, "skipped", NOW)  # not found, too late
    assert await repo.give_up_reminder(c.id, 0)  # the channel could not be read in time
    assert not await repo.give_up_reminder(c.id, 0)
    states = [(await repo.reminder(p, o)).state for p, o in ((a.id, 3600), (b.id, 0), (c.id, 0))]
    assert states == ["sent", "skipped", "unknown"]
    assert await repo.interrupted_reminders() == []
    assert not await repo.claim_reminder(c.id, 0, late=False)  # final: never claimed again
    with pytest.raises(ValueError):
        await repo.finish_interrupted(a.id, 3600, "failed", NOW)


async def test_reminder_dms_are_recorded_once_and_go_with_the_reminder(repo):
    (party,) = await create(repo, new_party())
    assert await repo.claim_reminder_dm(party.id, 3600, 7, NOW)
    assert not await repo.claim_reminder_dm(party.id, 3600, 7, NOW)
    assert await repo.claim_reminder_dm(party.id, 0, 7, NOW)  # another reminder of the party
    await repo.release_reminder_dm(party.id, 0, 7)
    assert await repo.reminder_dms(party.id, 3600) == [7] and await repo.reminder_dms(party.id, 0) == []
    await repo.delete(party.id)  # the reminder rows go, and their DM records with them
    assert await repo.reminder_dms(party.id, 3600) == []


async def test_skip_reminders_in_one_batch_counts_only_pending(repo):
    a, b = await create(repo, new_party(), new_party(host=11))
    assert await repo.claim_reminder(a.id, 0, late=False)
    assert await repo.skip_reminders([(a.id, 3600), (a.id, 0), (b.id, 3600), (b.id, 999)]) == 2
    assert [r.state for r in await repo.reminders(a.id)] == ["skipped", "sending"]
    assert [r.state for r in await repo.reminders(b.id)] == ["skipped", "pending"]
    assert await repo.skip_reminders([]) == 0


async def test_update_replaces_the_plan_and_bumps_sequence(repo):
    [party] = await create(repo, new_party())
    later = START + timedelta(hours=5)
    updated = await repo.update(party.id, NOW, title="Moved", starts_at=later,
                                plan=[(600, later - timedelta(minutes=10))])
    assert (updated.title, updated.starts_at, updated.sequence, updated.duration_minutes) == ("Moved", later, 1, 90)
    assert [(r.offset_seconds, r.fire_at) for r in await repo.reminders(party.id)] == [
        (600, later - timedelta(minutes=10))]
    await repo.finish(party.id, "ended", NOW)
    assert await repo.update(party.id, NOW, title="x") is None


async def test_upcoming_is_ordered_paged_and_per_guild(repo):
    made = await create(repo, new_party(start=START + timedelta(days=1), title="b"), new_party(title="a"))
    await create(repo, new_party(guild=2))
    assert [p.title for p in await repo.upcoming(1)] == ["a", "b"]
    assert [p.title for p in await repo.upcoming(1, limit=1, offset=1)] == ["b"]
    assert await repo.count_upcoming(1) == 2
    await repo.delete(made[0].id)
    assert await repo.reminders(made[0].id) == []


async def test_member_timezone_upsert(repo):
    assert await repo.member_timezone(5) is None
    await repo.set_member_timezone(5, "Asia/Seoul", NOW)
    await repo.set_member_timezone(5, "America/New_York", NOW)
    assert await repo.member_timezone(5) == "America/New_York"
