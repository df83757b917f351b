"""Every slash command's options fuzzed through the fake Discord, against the real bot.

The registered commands are walked (`fake.commands()`): every subcommand gets `CASES_PER_COMMAND` seeded cases of
option values Discord could deliver (its own checks respected: choices, min/max length and value, channel types),
chosen to be hostile: random Unicode, control and bidi characters, maximum lengths, numbers at the limits, ids of
things that exist only in another server (a party, a show, a feed), attachments of random bytes, channels and roles
of every kind, members and the bot itself; invoked by an admin, a fan or the owner, in English or Korean.

For every case: the bot answers in time (the fake flags a late or missing answer), the command finishes (its
outcome is counted in /metrics), never with the generic "something went wrong" error, and a refusal writes
nothing (the database is compared before and after). The seed and the case count are printed;
`CODEBLUE_FUZZ_SEED` / `CODEBLUE_FUZZ_CASES` change them for a longer local hunt.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from typing import Any

import pytest

from tests.e2e.harness import BotRunner
from tests.e2e.member_steps import create_party
from tests.fakediscord.interactions import Attachment
from tests.fakediscord.state import Guild, Member, Role
from tests.feeds import fixtures
from tests.feeds.builders import generate_feed

feed_server = fixtures.feed_server

SEED = int(os.environ.get("CODEBLUE_FUZZ_SEED", "20261204"))
CASES_PER_COMMAND = int(os.environ.get("CODEBLUE_FUZZ_CASES", "5"))
FINISH_TIMEOUT = 15.0  # a command that deferred must have finished by then (feeds are local; nothing is slow)
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = 3, 4, 5, 6, 7, 8, 9, 10, 11
DISCORD_MAX_STRING = 6000  # Discord's own limit on a string option without max_length
DISCORD_MAX_INTEGER = 2**53 - 1
UNEXPECTED = ("Something went wrong on my side", "제 쪽에서 문제가 생겼어요")
# Tables written by work a command starts in the background (a feed's first fetch): not compared.
JOB_TABLES = {"bot_state", "news_feeds", "news_seen_entries", "news_deliveries"}

CONTROL = "".join(chr(c) for c in (*range(0, 32), 127, *range(0x80, 0xA0)))
BIDI = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c"
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u3164\u115f"
WORDS = ["trauma-code", "S1E1", "S1E99", "1", "0", "-1", "9pm", "tomorrow 20:00", "in 2 hours", "내일 오후 9시",
         "Asia/Seoul", "KST", "Mars/Olympus", "1d 1h 10m 0", "0 0 0", "re:(a+)+$", "-re:", "re:", "\"\"", "@everyone",
         "<@&1>", "<#1>", "`", "```", "||x||", "**", "https://discord.com/", "file:///etc/passwd", "javascript:1",
         "http://127.0.0.1:1/", "http://[::1]:1/x", "http://169.254.169.254/latest", "중증외상센터", "시즌2", "null",
         "None", "NaN", "' OR 1=1 --", "%s%s%n", "{title}", "{0}", "${x}", "../../etc/passwd", "\\", "🩺", "𝕋𝕣𝕒𝕦𝕞𝕒"]


class Case:
    def __init__(self, number: int, path: str, member: Member, locale: str, options: dict[str, Any]) -> None:
        self.number, self.path, self.member, self.locale, self.options = number, path, member, locale, options

    def describe(self) -> str:
        shown = {k: (v if not isinstance(v, str) or len(v) < 80 else f"{v[:40]!r}…({len(v)})")
                 for k, v in self.options.items()}
        return f"case {self.number}: /{self.path} by {self.member.user.username} ({self.locale}) {shown}"


class Fuzzer:
    def __init__(self, rng: random.Random, guild: Guild, foreign: dict[str, list[str]]) -> None:
        self.rng = rng
        self.guild = guild
        self.foreign = foreign  # ids and names of things that exist only in another server

    def text(self, low: int, high: int) -> str:
        rng = self.rng
        kind = rng.choice(["word", "word", "unicode", "control", "bidi", "max", "foreign", "mixed", "spaces"])
        if kind == "word":
            value = rng.choice(WORDS)
        elif kind == "unicode":
            value = "".join(chr(rng.choice([rng.randint(0x20, 0x2FFF), rng.randint(0xAC00, 0xD7A3),
                                             rng.randint(0x1F300, 0x1FAFF), rng.randint(0xE000, 0xFFFD)]))
                            for _ in range(rng.randint(1, 40)))
        elif kind == "control":
            value = "".join(rng.choice(CONTROL + "ab") for _ in range(rng.randint(1, 20)))
        elif kind == "bidi":
            value = rng.choice(BIDI) + rng.choice(WORDS) + rng.choice(BIDI + INVISIBLE) + rng.choice(WORDS)
        elif kind == "max":
            value = rng.choice(["a", "한", "🩺", "\u202e", " x", "e\u0301"]) * high
        elif kind == "foreign":
            value = rng.choice(self.foreign["strings"])
        elif kind == "spaces":
            value = rng.choice([" ", "\u3000", "\u00a0", "\t", "\n"]) * rng.randint(1, 5)
        else:
            value = rng.choice(WORDS) + rng.choice(CONTROL + BIDI + INVISIBLE) + rng.choice(WORDS)
        value = value[:high]  # Discord refuses longer values before the bot sees them
        while len(value) < low:
            value += rng.choice("aZ9한")
        return value

    def integer(self, low: int | None, high: int | None) -> int:
        lo = -DISCORD_MAX_INTEGER if low is None else int(low)
        hi = DISCORD_MAX_INTEGER if high is None else int(high)
        candidates = [lo, hi, 0, 1, -1, 2**31, 2**63 - 1, *map(int, self.foreign["ids"]),
                      self.rng.randint(lo, hi), self.rng.randint(max(lo, -10), min(hi, 10))]
        return self.rng.choice([c for c in candidates if lo <= c <= hi] or [lo])

    def value(self, spec: dict[str, Any]) -> Any:
        rng, guild = self.rng, self.guild
        kind = int(spec["type"])
        if spec.get("choices"):
            return rng.choice(spec["choices"])["value"]
        if kind == STRING:
            return self.text(int(spec.get("min_length") or 0), int(spec.get("max_length") or DISCORD_MAX_STRING))
        if kind == INTEGER:
            return self.integer(spec.get("min_value"), spec.get("max_value"))
        if kind == NUMBER:
            return float(self.integer(spec.get("min_value"), spec.get("max_value")))
        if kind == BOOLEAN:
            return rng.random() < 0.5
        if kind == CHANNEL:
            allowed = spec.get("channel_types")
            channels = [c for c in guild.channels.values() if not allowed or int(c.type) in allowed]
            return rng.choice(channels)
        if kind in (ROLE, MENTIONABLE):
            roles: list[Role] = list(guild.roles.values())
            return rng.choice(roles)
        if kind == USER:
            return rng.choice(list(guild.members.values()))
        if kind == ATTACHMENT:
            content = rng.choice([
                bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300))),
                "season,episode,airs\n1,1,2026-01-01 20:00\n1,x,\n\x00,\u202e,".encode(),
                b'[[episode]]\nseason = 1\nepisode = "1"\nairs = 5\n' * rng.randint(1, 3),
                ("\ufeff" + "한" * 500).encode("utf-8"),
                b"\xff\xfe" + "s,e\n".encode("utf-16-le"),
            ])
            name = rng.choice(["schedule.csv", "schedule.toml", "x.exe", "../../x.csv", "스케줄.csv", "a" * 200])
            return Attachment(name, rng.choice(["text/csv", "application/toml", None, "image/png"]), content=content)
        raise AssertionError(f"option type {kind} is not fuzzed")

    def case(self, number: int, path: str, specs: list[dict[str, Any]]) -> Case:
        options = {spec["name"]: self.value(spec) for spec in specs
                   if spec.get("required") or self.rng.random() < 0.6}
        who = self.rng.choice(["admin", "admin", "admin", "owner", "mod", "fan1"])
        return Case(number, path, self.guild.member(who) if who != "owner" else self.guild.owner,
                    self.rng.choice(["en-US", "ko"]), options)


def leaf_commands(commands: dict[str, dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """("group sub", option specs) for every command that can be invoked."""
    leaves: list[tuple[str, list[dict[str, Any]]]] = []

    def walk(path: str, options: list[dict[str, Any]]) -> None:
        subs = [o for o in options if o["type"] in (1, 2)]
        if not subs:
            leaves.append((path, options))
        for sub in subs:
            walk(f"{path} {sub['name']}", sub.get("options") or [])

    for name, command in sorted(commands.items()):
        if int(command.get("type", 1)) == 1:
            walk(name, command.get("options") or [])
    return leaves


async def snapshot(bot) -> dict[str, list[tuple]]:
    tables = [r[0] for r in await bot.db.fetch_all("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {t: sorted(map(tuple, await bot.db.fetch_all(f'SELECT * FROM "{t}"')), key=repr)  # noqa: S608
            for t in tables if t not in JOB_TABLES}


def outcomes(bot, command: str) -> dict[str, float]:
    sample = bot.metrics.registry.get_sample_value
    return {o: sample("codeblue_interactions_total", {"command": command, "outcome": o}) or 0.0
            for o in ("ok", "error")}


async def finished(bot, command: str, before: dict[str, float]) -> str:
    """Wait until /metrics counts one more outcome of `command`; which one."""
    deadline = time.monotonic() + FINISH_TIMEOUT
    while time.monotonic() < deadline:
        now = outcomes(bot, command)
        for outcome in ("error", "ok"):
            if now[outcome] > before[outcome]:
                return outcome
        await asyncio.sleep(0.01)
    raise AssertionError(f"/{command} did not finish within {FINISH_TIMEOUT}s")


def texts(ix) -> list[str]:
    found = []
    for message in [*(c.data or {} for c in ix.callbacks), *ix.followup_messages, ix.original() or {}]:
        found.append(message.get("content") or "")
        found += [f"{e.get('title', '')} {e.get('description', '')}" for e in message.get("embeds") or []]
    return found


async def _world(fake, bot, feed_server) -> tuple[Guild, dict[str, list[str]]]:
    """The default server set up, and another server with a party, a show and a feed of its own."""
    feed_server.serve("/rss", generate_feed(3))
    g = fake.default_guild
    other = fake.add_guild("Other Server")
    while bot.get_guild(other.id) is None:
        await asyncio.sleep(0.01)
    for guild in (g, other):
        admin = guild.member("admin")
        for kind, channel in (("news", "news"), ("watchparty", "watch-party"), ("log", "bot-log"),
                              ("discussion", "episode-discussion")):
            ix = await fake.slash(guild, admin, "config channel", kind=kind, channel=guild.channel(channel))
            await ix.response()
        ix = await fake.slash(guild, admin, "show preset", name="trauma-code")
        await ix.response()
        ix = await fake.slash(guild, admin, "news feed add", url=feed_server.url("/rss"))
        await ix.response()
        await ix.followups(1)
    party = (await create_party(fake, other, other.member("fan1"), "Other server party", "in 3 hours")).id
    await create_party(fake, g, g.member("fan1"), "Our party", "in 5 hours")
    shows = await bot.db.fetch_all("SELECT id FROM shows WHERE guild_id = ?", (other.id,))
    feeds = await bot.db.fetch_all("SELECT id FROM news_subscriptions WHERE guild_id = ?", (other.id,))
    ids = [str(party), *(str(r[0]) for r in shows), *(str(r[0]) for r in feeds)]
    strings = [*ids, *(f"#{i}" for i in ids), str(other.id), str(other.channel("news").id),
               f"<#{other.channel('news').id}>", f"<@&{other.role('News Ping').id}>", "Other server party"]
    return g, {"ids": ids, "strings": strings}


@pytest.fixture
async def fuzz_bot(fake, tmp_path):
    runner = BotRunner(fake, tmp_path / "fuzz.db", env={"CODEBLUE_FEED_PARSE_PROCESSES": "0"})
    try:
        yield await runner.start()
    finally:
        await runner.stop()


async def test_every_command_answers_hostile_options_in_time_without_the_generic_error(fake, fuzz_bot,
                                                                                      feed_server, caplog):
    bot = fuzz_bot
    caplog.set_level(logging.ERROR)
    guild, foreign = await _world(fake, bot, feed_server)
    # Background jobs (feed polls, openings, the online mark) would write while a refused command is compared
    # before and after: they are paused for the fuzz, which is about commands.
    bot.scheduler.pause()
    rng = random.Random(SEED)
    fuzzer = Fuzzer(rng, guild, foreign)
    leaves = leaf_commands(fake.commands())
    assert len(leaves) >= 40, [p for p, _ in leaves]
    cases = [fuzzer.case(n, path, specs) for n, (path, specs) in
             enumerate([leaf for leaf in leaves for _ in range(CASES_PER_COMMAND)])]
    rng.shuffle(cases)
    counts = {"ok": 0, "error": 0}
    failures = []
    in_dms = 0
    dm_commands = {name for name, command in fake.commands().items() if command.get("dm_permission")}
    for case in cases:
        name = case.path
        before_db = await snapshot(bot)
        before = outcomes(bot, name)
        if name.split()[0] in dm_commands and rng.random() < 0.3:  # also usable in DMs: try it there
            in_dms += 1
            ix = await fake.slash(None, case.member.user, case.path, locale=case.locale, options=case.options)
        else:
            ix = await fake.slash(guild, case.member, case.path, locale=case.locale, options=case.options)
        await ix.response(timeout=fake.interaction_deadline + 1)
        outcome = await finished(bot, name, before)
        counts[outcome] += 1
        said = texts(ix)
        if any(marker in text for text in said for marker in UNEXPECTED):
            failures.append(f"{case.describe()}: the generic error: {said}")
        if outcome == "error":
            after_db = await snapshot(bot)
            changed = [t for t in after_db if after_db[t] != before_db.get(t)]
            if changed:
                failures.append(f"{case.describe()}: refused but wrote to {changed}: {said}")
    autocompleted = 0
    for path, specs in leaves:
        for spec in specs:
            if not spec.get("autocomplete"):
                continue
            for _ in range(CASES_PER_COMMAND):
                typed = fuzzer.text(0, 100)  # Discord sends what the member has typed so far
                others = {s["name"]: fuzzer.value(s) for s in specs if s is not spec and s.get("required")}
                member = rng.choice([guild.member("admin"), guild.member("fan1")])
                ix = await fake.autocomplete(guild, member, path, focused=spec["name"], value=typed,
                                             locale=rng.choice(["en-US", "ko"]), options=others)
                answer = await ix.response(timeout=fake.interaction_deadline + 1)
                autocompleted += 1
                if answer.type != 8 or len(answer.choices) > 25:
                    failures.append(f"autocomplete /{path} {spec['name']}={typed!r}: {answer.type} {answer.choices}")
    errors = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]
    figures = (f"command fuzz: seed {SEED}, {len(cases)} cases over {len(leaves)} commands ({counts['ok']} accepted, "
               f"{counts['error']} refused, {in_dms} in DMs), {autocompleted} autocompletions")
    print("\n" + figures)  # noqa: T201  (the figures; shown with -s)
    assert not failures, "\n".join(failures)
    assert not errors, errors
