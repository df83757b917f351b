"""Watch parties: creating, editing, cancelling, RSVPs, time zones, calendars, and reminders posted at most once.

The service knows no Discord: the cog gives it a `PartyPoster` that posts reminders and closes ended parties.
Modules: `parties` (WatchPartyService: create / edit / cancel / weekly series / reads / calendar selection, and
`watch_party_service`), `rsvps` (answers and the "DM me" choice), `timezones` (members' zones), `reminders` (the
horizon of jobs, the at-most-once reminder ledger, party ends, pruning) and `models`.
"""

from bot.services.watchparties.models import (
    MAX_REPEAT_WEEKLY,
    RETRY_DELAY,
    Created,
    DmLedger,
    MemberZone,
    PartyPoster,
    PartyRequest,
    RebuildReport,
    ReminderNotDelivered,
    reminder_recipients,
)
from bot.services.watchparties.parties import WatchPartyService, watch_party_service
from bot.services.watchparties.reminders import ReminderJobs
from bot.services.watchparties.rsvps import PartyRsvps
from bot.services.watchparties.timezones import MemberTimezones
from db.watchparties import Party, Rsvp  # the records the cog renders

__all__ = [
    "MAX_REPEAT_WEEKLY",
    "RETRY_DELAY",
    "Created",
    "DmLedger",
    "MemberTimezones",
    "MemberZone",
    "Party",
    "PartyPoster",
    "PartyRequest",
    "PartyRsvps",
    "RebuildReport",
    "ReminderJobs",
    "ReminderNotDelivered",
    "Rsvp",
    "WatchPartyService",
    "reminder_recipients",
    "watch_party_service",
]
