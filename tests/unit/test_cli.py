"""The command line fails with one clear line and exit status 2, never a traceback."""

import os
import sqlite3
import subprocess
import sys

import pytest

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GAbCdE.abcdefghijklmnopqrstuvwxyz0123456789AB"


def _run(args, tmp_path, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "CODEBLUE_"))}
    clean.update(env)
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bot", *args], cwd=tmp_path, env=clean, capture_output=True, text=True, timeout=60,
        check=False,
    )


def _sqlite_file(path, *statements):
    """A database file as another program (or a newer Code Blue) left it."""
    conn = sqlite3.connect(path)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "DISCORD_TOKEN is not set"),
        ({"DISCORD_TOKEN": "abc"}, "does not look like a bot token"),
        ({"DISCORD_TOKEN": TOKEN, "CODEBLUE_LOG_LEVEL": "chatty"}, "CODEBLUE_LOG_LEVEL"),
        ({"DISCORD_TOKEN": TOKEN, "CODEBLUE_DB": "/nonexistent-dir/x.db"}, "does not exist"),
    ],
)
def test_run_refuses_bad_settings(tmp_path, env, expected):
    result = _run(["run"], tmp_path, **env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_token_from_dotenv_file(tmp_path):
    (tmp_path / ".env").write_text("DISCORD_TOKEN=abc\n")
    result = _run(["run"], tmp_path)
    assert result.returncode == 2 and "does not look like a bot token" in result.stderr


def test_newer_database_refused_before_connecting(tmp_path):
    db = tmp_path / "new.db"
    _sqlite_file(db, "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)",
                 "INSERT INTO schema_migrations VALUES (9999, 'future', 'x')")
    result = _run(["run"], tmp_path, DISCORD_TOKEN=TOKEN, CODEBLUE_DB=str(db),
                  DISCORD_API_BASE="http://127.0.0.1:9/api/v10")
    assert result.returncode == 2 and "newer Code Blue" in result.stderr
    assert "Traceback" not in result.stderr


def test_backup_command(tmp_path):
    db = tmp_path / "bot.db"
    _sqlite_file(db, "CREATE TABLE t (x)", "INSERT INTO t VALUES (1)")
    result = _run(["backup", str(tmp_path / "copy.db")], tmp_path, CODEBLUE_DB=str(db))
    assert result.returncode == 0, result.stderr
    assert sqlite3.connect(tmp_path / "copy.db").execute("SELECT x FROM t").fetchall() == [(1,)]
    again = _run(["backup", str(tmp_path / "copy.db")], tmp_path, CODEBLUE_DB=str(db))
    assert again.returncode == 2 and "already exists" in again.stderr


def test_unreachable_discord_is_one_line_not_a_traceback(tmp_path):
    result = _run(["run"], tmp_path, DISCORD_TOKEN=TOKEN, CODEBLUE_DB=str(tmp_path / "bot.db"),
                  DISCORD_API_BASE="http://127.0.0.1:9/api/v10")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("codeblue:")]
    assert len(errors) == 1 and errors[0].startswith("codeblue: cannot reach Discord at http://127.0.0.1:9/api/v10")
