"""The web companion: an aiohttp server inside the bot process (started by `codeblue run`).

- `server.py`: the application, its start and stop, and the routes;
- `security.py`: what every response gets (GET/HEAD only, per-address rate limit, security headers, no stack
  traces, request size limits);
- `health.py`: `/healthz` for operators; `/metrics` renders `bot.metrics.Metrics`.

Handlers read through small interfaces the bot hands in (`HealthSources`); they never touch Discord.
"""

from bot.web.health import HealthSources
from bot.web.server import WebServer

__all__ = ["HealthSources", "WebServer"]
