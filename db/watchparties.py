"""Watch parties, RSVPs, the reminder ledger and member time zones: all their SQL.

Times are stored as integer epoch seconds (UTC) and returned as aware UTC datetimes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from db.database import Database, Transaction

RSVP_STATUSES = ("going", "maybe", "declined")


def to_epoch(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("aware datetimes only")
    return int(moment.timestamp())


def from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass(frozen=True, slots=True)
class Party:
    id: int
    guild_id: int
    channel_id: int
    message_id: int | None
    host_id: int
    title: str
    description: str | None
    show: str | None
    episode: int | None
    starts_at: datetime
    duration_minutes: int
    zone: str
    voice_channel_id: int | None
    scheduled_event_id: int | None
    status: str
    series_id: int | None
    sequence: int
    created_at: datetime

    @property
    def ends_at(self) -> datetime:
        return self.starts_at + timedelta(minutes=self.duration_minutes)


@dataclass(frozen=True, slots=True)
class NewParty:
    """What a party is made of before it has an id."""

    guild_id: int
    channel_id: int
    host_id: int
    title: str
    starts_at: datetime
    duration_minutes: int
    zone: str
    description: str | None = None
    show: str | None = None
    episode: int | None = None
    voice_channel_id: int | None = None


@dataclass(frozen=True, slots=True)
class Rsvp:
    party_id: int
    user_id: int
    display_name: str
    status: str
    dm_reminders: bool
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Reminder:
    party_id: int
    offset_seconds: int
    fire_at: datetime
    state: str
    late: bool
    sent_at: datetime | None
    claimed_at: datetime | None = None  # real time the post was claimed (searched from after a crash)

    @property
    def offset(self) -> timedelta:
        return timedelta(seconds=self.offset_seconds)


@dataclass(frozen=True, slots=True)
class DueWork:
    """A reminder (offset_seconds set; state pending or sending) or a party's end (offset_seconds None, state
    "end") that falls due at `due`; `starts_at` and `ends_at` are the party's (the overdue rule needs them)."""

    party_id: int
    offset_seconds: int | None
    due: datetime
    state: str
    starts_at: datetime
    ends_at: datetime

    @property
    def is_end(self) -> bool:
        return self.offset_seconds is None


class PartyLimitReached(Exception):
    """Creating would exceed a limit; `scope` is "guild" or "member", `limit` the configured maximum."""

    def __init__(self, scope: str, limit: int) -> None:
        super().__init__(f"{scope} limit {limit}")
        self.scope = scope
        self.limit = limit


_PARTY_COLUMNS = (
    "id, guild_id, channel_id, message_id, host_id, title, description, show, episode, starts_at, duration_minutes, "
    "zone, voice_channel_id, scheduled_event_id, status, series_id, sequence, created_at"
)
_SELECT_PARTY = f"SELECT {_PARTY_COLUMNS} FROM watch_parties"  # noqa: S608 (constant column list)
_REMINDER_COLUMNS = "party_id, offset_seconds, fire_at, state, late, sent_at, claimed_at"


def _present(row: sqlite3.Row | None) -> sqlite3.Row:
    """The row of a query that always returns one (an aggregate, or a row written in the same transaction)."""
    if row is None:
        raise LookupError("the query returned no row")
    return row


def _party(row: sqlite3.Row) -> Party:
    return Party(
        id=row["id"], guild_id=row["guild_id"], channel_id=row["channel_id"], message_id=row["message_id"],
        host_id=row["host_id"], title=row["title"], description=row["description"], show=row["show"],
        episode=row["episode"], starts_at=from_epoch(row["starts_at"]), duration_minutes=row["duration_minutes"],
        zone=row["zone"], voice_channel_id=row["voice_channel_id"], scheduled_event_id=row["scheduled_event_id"],
        status=row["status"], series_id=row["series_id"], sequence=row["sequence"],
        created_at=from_epoch(row["created_at"]),
    )


def _rsvp(row: sqlite3.Row) -> Rsvp:
    return Rsvp(party_id=row["party_id"], user_id=row["user_id"], display_name=row["display_name"],
                status=row["status"], dm_reminders=bool(row["dm_reminders"]), updated_at=from_epoch(row["updated_at"]))


def _reminder(row: sqlite3.Row) -> Reminder:
    sent_at, claimed_at = row["sent_at"], row["claimed_at"]
    return Reminder(party_id=row["party_id"], offset_seconds=row["offset_seconds"], fire_at=from_epoch(row["fire_at"]),
                    state=row["state"], late=bool(row["late"]),
                    sent_at=from_epoch(sent_at) if sent_at is not None else None,
                    claimed_at=from_epoch(claimed_at) if claimed_at is not None else None)


async def _replace_reminders(tx: Transaction, party_id: int, plan: Sequence[tuple[int, datetime]]) -> None:
    await tx.execute("DELETE FROM party_reminders WHERE party_id = ?", (party_id,))
    await tx.executemany(
        "INSERT INTO party_reminders (party_id, offset_seconds, fire_at) VALUES (?, ?, ?)",
        [(party_id, offset, to_epoch(fire_at)) for offset, fire_at in plan],
    )


class WatchPartyRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- member time zones ----------------------------------------------------------------------------
    async def member_timezone(self, user_id: int) -> str | None:
        row = await self.db.fetch_one("SELECT timezone FROM member_timezones WHERE user_id = ?", (user_id,))
        return None if row is None else row["timezone"]

    async def set_member_timezone(self, user_id: int, timezone: str, now: datetime) -> None:
        await self.db.execute(
            "INSERT INTO member_timezones (user_id, timezone, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET timezone = excluded.timezone, updated_at = excluded.updated_at",
            (user_id, timezone, to_epoch(now)),
        )

    # -- parties --------------------------------------------------------------------------------------
    async def create_parties(
        self,
        parties: Sequence[NewParty],
        plans: Sequence[Sequence[tuple[int, datetime]]],
        now: datetime,
        *,
        max_per_guild: int,
        max_per_member: int,
    ) -> list[Party]:
        """Insert parties (a weekly series shares the first one's id as series_id) with their reminder plans
        (offset_seconds, fire_at), in one transaction that also checks the limits on scheduled parties, so two
        concurrent creations cannot both slip under a limit. Raises PartyLimitReached."""
        if not parties:
            return []
        first = parties[0]
        stamp = to_epoch(now)
        async with self.db.transaction() as tx:
            row = _present(await tx.fetch_one(
                "SELECT COUNT(*) AS n, COALESCE(SUM(host_id = ?), 0) AS mine FROM watch_parties "
                "WHERE guild_id = ? AND status = 'scheduled'",
                (first.host_id, first.guild_id),
            ))
            if row["n"] + len(parties) > max_per_guild:
                raise PartyLimitReached("guild", max_per_guild)
            if row["mine"] + len(parties) > max_per_member:
                raise PartyLimitReached("member", max_per_member)
            ids: list[int] = []
            for party, plan in zip(parties, plans, strict=True):
                inserted = await tx.execute(
                    "INSERT INTO watch_parties (guild_id, channel_id, host_id, title, description, show, episode, "
                    "starts_at, duration_minutes, zone, voice_channel_id, series_id, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (party.guild_id, party.channel_id, party.host_id, party.title, party.description, party.show,
                     party.episode, to_epoch(party.starts_at), party.duration_minutes, party.zone,
                     party.voice_channel_id, ids[0] if ids else None, stamp, stamp),
                )
                party_id = int(inserted.lastrowid or 0)
                ids.append(party_id)
                await _replace_reminders(tx, party_id, plan)
            if len(ids) > 1:
                await tx.execute("UPDATE watch_parties SET series_id = ? WHERE id = ?", (ids[0], ids[0]))
            rows = await tx.fetch_all(
                f"{_SELECT_PARTY} WHERE id IN ({', '.join('?' for _ in ids)}) ORDER BY starts_at", ids
            )
        return [_party(r) for r in rows]

    async def get(self, party_id: int) -> Party | None:
        row = await self.db.fetch_one(f"{_SELECT_PARTY} WHERE id = ?", (party_id,))
        return None if row is None else _party(row)

    async def delete(self, party_id: int) -> None:
        """Remove a party that never got announced (its RSVPs and reminders go with it)."""
        await self.db.execute("DELETE FROM watch_parties WHERE id = ?", (party_id,))

    async def set_message(self, party_id: int, message_id: int | None) -> None:
        await self.db.execute("UPDATE watch_parties SET message_id = ? WHERE id = ?", (message_id, party_id))

    async def set_scheduled_event(self, party_id: int, event_id: int | None) -> None:
        await self.db.execute("UPDATE watch_parties SET scheduled_event_id = ? WHERE id = ?", (event_id, party_id))

    async def update(
        self,
        party_id: int,
        now: datetime,
        *,
        title: str | None = None,
        starts_at: datetime | None = None,
        duration_minutes: int | None = None,
        voice_channel_id: int | None = None,
        clear_voice_channel: bool = False,
        plan: Sequence[tuple[int, datetime]] | None = None,
    ) -> Party | None:
        """Change a scheduled party (None keeps a value; `clear_voice_channel` removes the voice channel); with
        `plan`, its reminder rows are replaced by the new plan (all pending). Returns None when the party is not (or
        no longer) scheduled."""
        async with self.db.transaction() as tx:
            row = await tx.fetch_one(f"{_SELECT_PARTY} WHERE id = ? AND status = 'scheduled'", (party_id,))
            if row is None:
                return None
            current = _party(row)
            await tx.execute(
                "UPDATE watch_parties SET title = ?, starts_at = ?, duration_minutes = ?, voice_channel_id = ?, "
                "sequence = sequence + 1, updated_at = ? WHERE id = ?",
                (title if title is not None else current.title,
                 to_epoch(starts_at if starts_at is not None else current.starts_at),
                 duration_minutes if duration_minutes is not None else current.duration_minutes,
                 None if clear_voice_channel else voice_channel_id or current.voice_channel_id,
                 to_epoch(now), party_id),
            )
            if plan is not None:
                await _replace_reminders(tx, party_id, plan)
            row = await tx.fetch_one(f"{_SELECT_PARTY} WHERE id = ?", (party_id,))
        return _party(_present(row))

    async def finish(self, party_id: int, status: str, now: datetime) -> bool:
        """scheduled -> cancelled|ended; False when it was not scheduled any more. Pending reminders are skipped.
        A cancel is an edit calendars must take: it bumps the party's sequence."""
        if status not in ("cancelled", "ended"):
            raise ValueError(status)
        async with self.db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE watch_parties SET status = ?, sequence = sequence + ?, updated_at = ? "
                "WHERE id = ? AND status = 'scheduled'",
                (status, int(status == "cancelled"), to_epoch(now), party_id),
            )
            if changed.rowcount:
                await tx.execute(
                    "UPDATE party_reminders SET state = 'skipped' WHERE party_id = ? AND state = 'pending'",
                    (party_id,),
                )
        return changed.rowcount == 1

    async def prune_finished(self, started_before: datetime) -> int:
        """Delete ended or cancelled parties that started before `started_before` (their RSVPs and reminders
        cascade); returns how many."""
        done = await self.db.execute(
            "DELETE FROM watch_parties WHERE status IN ('ended', 'cancelled') AND starts_at < ?",
            (to_epoch(started_before),),
        )
        return done.rowcount

    async def upcoming(self, guild_id: int, *, limit: int = 25, offset: int = 0) -> list[Party]:
        """Scheduled parties of a server, soonest first."""
        rows = await self.db.fetch_all(
            f"{_SELECT_PARTY} WHERE guild_id = ? AND status = 'scheduled' ORDER BY starts_at, id LIMIT ? OFFSET ?",
            (guild_id, limit, offset),
        )
        return [_party(r) for r in rows]

    async def count_upcoming(self, guild_id: int) -> int:
        row = await self.db.fetch_one(
            "SELECT COUNT(*) AS n FROM watch_parties WHERE guild_id = ? AND status = 'scheduled'", (guild_id,)
        )
        return int(row["n"]) if row else 0

    # -- RSVPs ----------------------------------------------------------------------------------------
    async def set_rsvp(self, party_id: int, user_id: int, display_name: str, status: str, now: datetime) -> None:
        if status not in RSVP_STATUSES:
            raise ValueError(status)
        await self.db.execute(
            "INSERT INTO rsvps (party_id, user_id, display_name, status, updated_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (party_id, user_id) DO UPDATE SET display_name = excluded.display_name, "
            "status = excluded.status, updated_at = excluded.updated_at",
            (party_id, user_id, display_name, status, to_epoch(now)),
        )

    async def toggle_dm(self, party_id: int, user_id: int) -> bool | None:
        """Flip the member's "DM me" choice (their place in the RSVP order stays); the new value, or None when
        the member has no RSVP."""
        async with self.db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE rsvps SET dm_reminders = 1 - dm_reminders WHERE party_id = ? AND user_id = ?",
                (party_id, user_id),
            )
            if not changed.rowcount:
                return None
            row = await tx.fetch_one(
                "SELECT dm_reminders FROM rsvps WHERE party_id = ? AND user_id = ?", (party_id, user_id)
            )
        return bool(_present(row)["dm_reminders"])

    async def rsvps(self, party_id: int) -> list[Rsvp]:
        """Everyone who answered, in the order of their last answer (oldest first)."""
        rows = await self.db.fetch_all(
            "SELECT party_id, user_id, display_name, status, dm_reminders, updated_at FROM rsvps "
            "WHERE party_id = ? ORDER BY updated_at, rowid",
            (party_id,),
        )
        return [_rsvp(r) for r in rows]

    # -- reminders ------------------------------------------------------------------------------------
    async def reminders(self, party_id: int) -> list[Reminder]:
        rows = await self.db.fetch_all(
            f"SELECT {_REMINDER_COLUMNS} FROM party_reminders WHERE party_id = ? ORDER BY fire_at",  # noqa: S608
            (party_id,),
        )
        return [_reminder(r) for r in rows]

    async def reminder(self, party_id: int, offset_seconds: int) -> Reminder | None:
        row = await self.db.fetch_one(
            f"SELECT {_REMINDER_COLUMNS} FROM party_reminders WHERE party_id = ? AND offset_seconds = ?",  # noqa: S608
            (party_id, offset_seconds),
        )
        return None if row is None else _reminder(row)

    async def due_work(self, until: datetime) -> list[DueWork]:
        """Everything of scheduled parties due before `until`, in one indexed query: pending reminders by
        `party_reminders_due`, and party ends by `watch_parties_status_start` (an end before `until` implies a start
        before it)."""
        stop = to_epoch(until)
        rows = await self.db.fetch_all(
            "SELECT r.party_id, r.offset_seconds, r.fire_at AS due, r.state, p.starts_at, "
            "p.starts_at + p.duration_minutes * 60 AS ends_at "
            "FROM party_reminders AS r JOIN watch_parties AS p ON p.id = r.party_id "
            "WHERE r.state = 'pending' AND r.fire_at < ? AND p.status = 'scheduled' "
            "UNION ALL "
            "SELECT id, NULL, starts_at + duration_minutes * 60, 'end', starts_at, starts_at + duration_minutes * 60 "
            "FROM watch_parties "
            "WHERE status = 'scheduled' AND starts_at < ? AND starts_at + duration_minutes * 60 < ?",
            (stop, stop, stop),
        )
        return [DueWork(party_id=r["party_id"], offset_seconds=r["offset_seconds"], due=from_epoch(r["due"]),
                        state=r["state"], starts_at=from_epoch(r["starts_at"]), ends_at=from_epoch(r["ends_at"]))
                for r in rows]

    async def claim_reminder(self, party_id: int, offset_seconds: int, *, late: bool,
                             claimed_at: datetime | None = None) -> bool:
        """pending -> sending, committed before the post is attempted; False when someone else had it or it is
        no longer pending (sent, skipped, moved by an edit, party cancelled). `claimed_at` (real time) is where a
        search for the post starts after a crash."""
        changed = await self.db.execute(
            "UPDATE party_reminders SET state = 'sending', late = ?, claimed_at = ? WHERE party_id = ? "
            "AND offset_seconds = ? AND state = 'pending'",
            (int(late), to_epoch(claimed_at) if claimed_at else None, party_id, offset_seconds),
        )
        return changed.rowcount == 1

    async def complete_reminder(self, party_id: int, offset_seconds: int, state: str, now: datetime) -> None:
        """sending -> sent|failed (after the post). Also from 'unknown': a post that was still running when a
        rebuild (cog reload) gave up on it records what really happened."""
        if state not in ("sent", "failed"):
            raise ValueError(state)
        await self.db.execute(
            "UPDATE party_reminders SET state = ?, sent_at = ? WHERE party_id = ? AND offset_seconds = ? "
            "AND state IN ('sending', 'unknown')",
            (state, to_epoch(now), party_id, offset_seconds),
        )

    async def release_reminder(self, party_id: int, offset_seconds: int) -> bool:
        """sending -> pending: the post reached nobody (Discord unreachable), so it may be claimed again."""
        changed = await self.db.execute(
            "UPDATE party_reminders SET state = 'pending' WHERE party_id = ? AND offset_seconds = ? "
            "AND state = 'sending'",
            (party_id, offset_seconds),
        )
        return changed.rowcount == 1

    async def interrupted_reminders(self) -> list[Reminder]:
        """The reminders left in 'sending' (start-up: their post was interrupted by a crash and is reconciled)."""
        rows = await self.db.fetch_all(
            f"SELECT {_REMINDER_COLUMNS} FROM party_reminders WHERE state = 'sending' ORDER BY fire_at",  # noqa: S608
        )
        return [_reminder(r) for r in rows]

    async def give_up_reminder(self, party_id: int, offset_seconds: int) -> bool:
        """sending -> unknown for one reminder that could not be reconciled within its grace window (final)."""
        changed = await self.db.execute(
            "UPDATE party_reminders SET state = 'unknown' WHERE party_id = ? AND offset_seconds = ? "
            "AND state = 'sending'",
            (party_id, offset_seconds),
        )
        return changed.rowcount == 1

    async def finish_interrupted(self, party_id: int, offset_seconds: int, state: str, now: datetime) -> bool:
        """sending -> sent (found in the channel) or skipped (not found, too late to send) after a crash."""
        if state not in ("sent", "skipped"):
            raise ValueError(state)
        changed = await self.db.execute(
            "UPDATE party_reminders SET state = ?, sent_at = ? WHERE party_id = ? AND offset_seconds = ? "
            "AND state = 'sending'",
            (state, to_epoch(now) if state == "sent" else None, party_id, offset_seconds),
        )
        return changed.rowcount == 1

    async def claim_reminder_dm(self, party_id: int, offset_seconds: int, user_id: int, now: datetime) -> bool:
        """Record (committed) that this member is being DMed this reminder, BEFORE the DM; False when it was
        recorded already (then it is not sent again: at most once per DM)."""
        changed = await self.db.execute(
            "INSERT OR IGNORE INTO party_reminder_dms (party_id, offset_seconds, user_id, recorded_at) "
            "VALUES (?, ?, ?, ?)",
            (party_id, offset_seconds, user_id, to_epoch(now)),
        )
        return changed.rowcount == 1

    async def release_reminder_dm(self, party_id: int, offset_seconds: int, user_id: int) -> None:
        """Forget a DM record: the DM certainly did not go out (Discord unreachable), so a retry may send it."""
        await self.db.execute(
            "DELETE FROM party_reminder_dms WHERE party_id = ? AND offset_seconds = ? AND user_id = ?",
            (party_id, offset_seconds, user_id),
        )

    async def reminder_dms(self, party_id: int, offset_seconds: int) -> list[int]:
        rows = await self.db.fetch_all(
            "SELECT user_id FROM party_reminder_dms WHERE party_id = ? AND offset_seconds = ? ORDER BY user_id",
            (party_id, offset_seconds),
        )
        return [int(r["user_id"]) for r in rows]

    async def skip_reminders(self, keys: Sequence[tuple[int, int]]) -> int:
        """pending -> skipped for (party_id, offset_seconds) pairs, in one batch; returns how many changed."""
        if not keys:
            return 0
        async with self.db.transaction() as tx:
            before = _present(await tx.fetch_one("SELECT total_changes() AS n"))
            await tx.executemany(
                "UPDATE party_reminders SET state = 'skipped' WHERE party_id = ? AND offset_seconds = ? "
                "AND state = 'pending'",
                list(keys),
            )
            after = _present(await tx.fetch_one("SELECT total_changes() AS n"))
        return int(after["n"]) - int(before["n"])
