"""Episode discussions: /show, /episode and /progress, the starter messages' buttons and automatic openings.

The commands parse and check; `bot.services.episodes.EpisodeService` does the work; `DiscordThreads` is how
the service reaches Discord. The extension's cogs share one service:

- `ShowsCog` (`shows.py`): /show, the catalog of shows and schedules (moderators);
- `EpisodesCog` (`episode_commands.py`): /episode, threads and ratings, and the starter buttons (`components.py`);
- `ProgressCog` (`progress.py`): /progress;
- `OpeningsCog` (`openings.py`): automatic openings through the bot's life (start-up, servers left and joined).
"""

from __future__ import annotations

from bot.client import CodeBlueBot
from bot.services.episodes import EpisodeService

from .discord_premieres import DiscordPremieres
from .discord_threads import DiscordThreads
from .episode_commands import EpisodesCog
from .openings import OpeningsCog
from .progress import ProgressCog
from .shows import ShowsCog


async def setup(bot: CodeBlueBot) -> None:
    threads = DiscordThreads(bot)
    service = EpisodeService(bot.db, bot.scheduler, bot.settings_service, bot.clock, threads,
                             premiere_gateway=DiscordPremieres(bot, threads))
    for cog in (ShowsCog(bot, service), EpisodesCog(bot, service), ProgressCog(bot, service),
                OpeningsCog(bot, service)):
        await bot.add_cog(cog)
