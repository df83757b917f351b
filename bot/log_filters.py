"""Log filters installed on the bot's log handlers (`bot.config.configure_logging`)."""

from __future__ import annotations

import logging

from bot.errors import DatabaseUnavailable


def caused_by_database_fault(error: BaseException | None) -> bool:
    """Whether `error` is, or was raised because of, a DatabaseUnavailable (followed through causes/contexts)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, DatabaseUnavailable):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


class DatabaseFaultFilter(logging.Filter):
    """A failure caused by a database fault is already logged once, in one line, by `db.database` when the fault
    starts: every job or handler that then fails because of it would otherwise add a traceback per attempt (the
    news poll every 30 s). Such records lose their traceback and become DEBUG (shown only at that log level)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info is None or not caused_by_database_fault(record.exc_info[1]):
            return True
        record.exc_info = None
        record.exc_text = None
        record.msg = f"{record.msg} (database unavailable: see the line logged when it started)"
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)
