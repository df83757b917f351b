from pathlib import Path

import pytest

from bot.config import DEFAULT_API_BASE, parse_settings
from bot.errors import ConfigError

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GAbCdE.abcdefghijklmnopqrstuvwxyz0123456789AB"


def test_defaults():
    s = parse_settings({"DISCORD_TOKEN": TOKEN})
    assert s.token == TOKEN
    assert s.db_path == Path("./codeblue.db")
    assert s.api_base == DEFAULT_API_BASE and not s.api_base_is_custom
    assert s.gateway_url is None
    assert s.log_level == "INFO"
    assert s.dev_guild is None
    assert s.allow_private_feeds is False
    assert s.feed_interval_minutes == 10
    assert (s.web_host, s.web_port, s.public_url) == ("127.0.0.1", 8080, None)
    assert s.shards is None  # auto


def test_every_setting_read():
    s = parse_settings({
        "DISCORD_TOKEN": f"  {TOKEN} ",
        "CODEBLUE_DB": "/srv/x/bot.db",
        "DISCORD_API_BASE": "http://127.0.0.1:8080/api/v10/",
        "DISCORD_GATEWAY_URL": "ws://127.0.0.1:8081",
        "CODEBLUE_LOG_LEVEL": "debug",
        "CODEBLUE_DEV_GUILD": "123456789012345678",
        "CODEBLUE_ALLOW_PRIVATE_FEEDS": "1",
        "CODEBLUE_FEED_PARSE_PROCESSES": "0",
        "CODEBLUE_FEED_INTERVAL_MINUTES": "5",
        "CODEBLUE_WEB_HOST": "::1",
        "CODEBLUE_WEB_PORT": "9090",
        "CODEBLUE_PUBLIC_URL": "https://fans.example.org/codeblue/",
        "CODEBLUE_SHARDS": "4",
    })
    assert s.token == TOKEN
    assert s.db_path == Path("/srv/x/bot.db")
    assert s.api_base == "http://127.0.0.1:8080/api/v10" and s.api_base_is_custom
    assert s.gateway_url == "ws://127.0.0.1:8081"
    assert s.log_level == "DEBUG"
    assert s.dev_guild == 123456789012345678
    assert s.allow_private_feeds is True
    assert s.feed_parse_processes == 0
    assert s.feed_interval_minutes == 5
    assert (s.web_host, s.web_port) == ("::1", 9090)
    assert s.public_url == "https://fans.example.org/codeblue"
    assert s.shards == 4
    assert parse_settings({"DISCORD_TOKEN": TOKEN, "CODEBLUE_SHARDS": "AUTO"}).shards is None


@pytest.mark.parametrize("value", ["0", "off", "OFF"])
def test_web_server_can_be_disabled(value):
    assert parse_settings({"DISCORD_TOKEN": TOKEN, "CODEBLUE_WEB_PORT": value}).web_port is None


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({}, "DISCORD_TOKEN is not set"),
        ({"DISCORD_TOKEN": "   "}, "DISCORD_TOKEN is not set"),
        ({"DISCORD_TOKEN": "not-a-token"}, "does not look like a bot token"),
        ({"DISCORD_TOKEN": TOKEN, "DISCORD_API_BASE": "ftp://x"}, "DISCORD_API_BASE"),
        ({"DISCORD_TOKEN": TOKEN, "DISCORD_GATEWAY_URL": "http://x"}, "DISCORD_GATEWAY_URL"),
        ({"DISCORD_TOKEN": TOKEN, "CODEBLUE_LOG_LEVEL": "loud"}, "CODEBLUE_LOG_LEVEL"),
        ({"DISCORD_TOKEN": TOKEN, "CODEBLUE_DEV_GUILD": "abc"}, "CODEBLUE_DEV_GUILD"),
        ({"DISCORD_TOKEN": TOKEN, "CODEBLUE_DEV_GUILD": "12"}, "CODEBLUE_DEV_GUILD"),
        ({"DISCORD_TOKEN": TOKEN, "CODEBLUE_ALLOW_PRIVATE_FEEDS": "maybe"}, "CODEBLUE_ALLOW_PRIVATE_FEEDS"),
        ({"DISCORD_TOKEN": TOKEN, "CODEBLUE_FEED_PARSE_PROCESSES": "-1"}, "CODEBLUE_FEED_PARSE_PROCESSES"),
        ({"DISCORD_TOKEN": TOKEN, "CODEBLUE_FEED_PARSE_PROCESSES": "99"}, "CODEBLUE_FEED_PARSE_PROCESSES"),
        ({"DISCORD_TOKEN": TOKEN, "CODEBLUE_FEED_INTERVAL_MINUTES": "1"}, "CODEBLUE_FEED_INTERVAL_MINUTES"),
        ({"DISCORD_TOKEN": TOKEN, "CODEBLUE_FEED_INTERVAL_MINUTES": "often"}, "CODEBLUE_FEED_INTERVAL_MINUTES"),
        ({"DISCORD_TOKEN": TOKEN, "CODEBLUE_WEB_PORT": "70000"}, "CODEBLUE_WEB_PORT"),
        ({"DISCORD_TOKEN": TOKEN, "CODEBLUE_SHARDS": "0"}, "CODEBLUE_SHARDS"),
        ({"DISCORD_TOKEN": TOKEN, "CODEBLUE_SHARDS": "many"}, "CODEBLUE_SHARDS"),
        ({"DISCORD_TOKEN": TOKEN, "CODEBLUE_WEB_PORT": "web"}, "CODEBLUE_WEB_PORT"),
        ({"DISCORD_TOKEN": TOKEN, "CODEBLUE_WEB_HOST": "local host"}, "CODEBLUE_WEB_HOST"),
        ({"DISCORD_TOKEN": TOKEN, "CODEBLUE_PUBLIC_URL": "fans.example.org"}, "CODEBLUE_PUBLIC_URL"),
    ],
)
def test_errors_name_the_setting(env, names):
    with pytest.raises(ConfigError) as err:
        parse_settings(env)
    assert names in str(err.value)
    assert "\n" not in str(err.value)


def test_token_optional_for_backup():
    assert parse_settings({}, require_token=False).token is None
