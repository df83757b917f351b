"""A failure caused by a database fault adds no traceback to the log: the database logged the fault once."""

import logging

from bot.config import configure_logging
from bot.errors import DatabaseUnavailable
from bot.log_filters import DatabaseFaultFilter, caused_by_database_fault


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _failing_job(log: logging.Logger, error: Exception) -> None:
    try:
        try:
            raise error
        except DatabaseUnavailable as exc:
            raise RuntimeError("the poll failed") from exc
    except Exception:
        log.exception("news poll failed")


def test_a_job_failing_because_of_a_database_fault_logs_no_traceback():
    handler = Collect()
    handler.addFilter(DatabaseFaultFilter())
    log = logging.getLogger("test.database_fault_filter")
    log.addHandler(handler)
    root = logging.getLogger()
    level = root.level
    try:
        root.setLevel(logging.INFO)
        _failing_job(log, DatabaseUnavailable("disk_full", "the disk is full"))
        assert handler.records == []  # dropped below DEBUG
        root.setLevel(logging.DEBUG)
        _failing_job(log, DatabaseUnavailable("locked", "locked"))
        [record] = handler.records
        assert record.levelno == logging.DEBUG and record.exc_info is None
        assert "database unavailable" in record.getMessage()
        try:
            raise ValueError("an ordinary bug")
        except ValueError:
            log.exception("job failed")
        assert handler.records[-1].levelno == logging.ERROR and handler.records[-1].exc_info is not None
    finally:
        root.setLevel(level)
        log.removeHandler(handler)


def test_causes_are_followed():
    try:
        try:
            raise DatabaseUnavailable("read_only", "read-only")
        except DatabaseUnavailable:
            raise KeyError("x")  # noqa: B904  (an implicit context, as in a careless handler)
    except KeyError as error:
        assert caused_by_database_fault(error)
    assert not caused_by_database_fault(ValueError("x"))
    assert not caused_by_database_fault(None)


def test_the_bot_installs_the_filter_on_its_log_handlers(monkeypatch):
    root, http = logging.getLogger(), logging.getLogger("discord.http")
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)  # restored after the test, as is discord.http's
    monkeypatch.setattr(http, "level", http.level)
    configure_logging("INFO")
    try:
        assert root.handlers and all(any(isinstance(f, DatabaseFaultFilter) for f in h.filters)
                                     for h in root.handlers)
    finally:
        for handler in root.handlers:
            handler.close()
