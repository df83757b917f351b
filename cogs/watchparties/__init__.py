"""/watchparty and /timezone: the Discord side of watch parties (logic in bot.services.watchparties).

Modules: `cog` (/watchparty commands; the service's `PartyPoster`), `buttons` (persistent RSVP and list-page
buttons), `announcements` (each party's announcement message), `events` (Discord scheduled events), `notices`
(reminders and cancellation notices, by mention and DM), `timezone` (/timezone) and `render` (all markup).
"""

from __future__ import annotations

from bot.client import CodeBlueBot
from bot.services.watchparties import RETRY_DELAY

from .buttons import WatchPartyButtons
from .cog import WatchPartyCog
from .timezone import TimezoneCog


async def setup(bot: CodeBlueBot) -> None:
    # RETRY_DELAY is read when the extension loads (discord.py executes this module afresh on every load), so a
    # test may shorten `bot.services.watchparties.RETRY_DELAY` before the bot starts.
    cog = WatchPartyCog(bot, retry_delay=RETRY_DELAY)
    await bot.add_cog(cog)
    await bot.add_cog(TimezoneCog(cog.service.timezones))
    await bot.add_cog(WatchPartyButtons(bot, cog.service, cog.announcements))
