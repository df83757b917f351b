"""Operators: /healthz and /metrics of the real bot's web companion, and what every response carries."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.harness import BotRunner, free_port
from tests.e2e.member_steps import KST_21, SEOUL, ShiftedClock, answer, create_party, set_up_watch_parties
from tests.feeds import fixtures
from tests.feeds.builders import Item

feed_server = fixtures.feed_server


async def _health(web) -> tuple[int, dict]:
    status, _, body = await web.get("/healthz")
    return status, json.loads(body)


async def _until_health(web, wanted: int, timeout: float = 20) -> dict:
    """Probe /healthz until it answers `wanted` (a probe is what an operator's monitor does)."""

    async def probe() -> dict:
        while True:
            status, report = await _health(web)
            if status == wanted:
                return report
            await asyncio.sleep(0.1)

    return await asyncio.wait_for(probe(), timeout)


def _samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


async def test_healthz_reports_every_check(web):
    status, report = await _health(web)
    assert status == 200
    assert report["status"] == "ok"
    assert report["database"] == {"ok": True}
    assert report["gateway"]["ok"] is True
    assert report["scheduler"] == {"ok": True}
    assert report["news_poll"]["ok"] is True
    assert report["version"]


async def test_healthz_is_503_while_the_gateway_is_down_and_recovers(fake, web):
    await fake.gateway_outage()
    report = await _until_health(web, 503)
    assert report["status"] == "unhealthy"
    assert report["gateway"]["ok"] is False
    assert report["database"] == {"ok": True}
    fake.end_gateway_outage()
    report = await _until_health(web, 200)
    assert report["gateway"]["ok"] is True


async def test_healthz_is_503_when_the_database_is_gone(web):
    await web.bot.db.close()
    status, report = await _health(web)
    assert status == 503
    assert report["database"] == {"ok": False}
    await web.bot.db.connect()  # for the clean shutdown


async def test_metrics_count_commands_with_latency_guilds_and_loop_stalls(fake, web):
    guild = fake.default_guild
    for _ in range(3):
        ix = await fake.slash(guild, guild.member("fan1"), "help")
        await ix.response()
    ix = await fake.slash(guild, guild.member("fan1"), "config show")  # refused: not an admin
    await ix.response()

    async def scraped() -> dict:
        while True:
            status, headers, body = await web.get("/metrics")
            assert status == 200 and headers["Content-Type"].startswith("text/plain")
            samples = _samples(body)
            if samples.get(("codeblue_interaction_latency_seconds_count", (("command", "config show"),))):
                return samples
            await asyncio.sleep(0.05)

    samples = await asyncio.wait_for(scraped(), 5)
    assert samples[("codeblue_interactions_total", (("command", "help"), ("outcome", "ok")))] == 3
    assert samples[("codeblue_interaction_latency_seconds_count", (("command", "help"),))] == 3
    assert samples[("codeblue_interactions_total", (("command", "config show"), ("outcome", "error")))] == 1
    assert samples[("codeblue_guilds", ())] == len(web.bot.guilds) >= 1
    assert samples[("codeblue_event_loop_stall_seconds_count", ())] > 0


async def test_metrics_and_health_follow_the_news_poll_job_and_a_manual_check(fake, web, feed_server):
    guild = fake.default_guild
    admin = guild.member("admin")
    await answer(fake, guild, admin, "config channel", kind="news", channel=guild.channel("news"))
    feed_server.serve_items("/news", [], title="Drama Daily")
    await answer(fake, guild, admin, "news feed add", url=feed_server.url("/news"))
    feed_server.add_item("/news", Item(title="Season 2 confirmed", link="https://news.test/s2", guid="s2",
                                       published=datetime.now(UTC)))
    await answer(fake, guild, admin, "news check")

    async def scraped() -> dict:  # the real news:poll job first runs a few seconds after start-up
        while True:
            samples = _samples((await web.get("/metrics"))[2])
            if samples.get(("codeblue_feed_poll_duration_seconds_count", ())):
                return samples
            await asyncio.sleep(0.25)

    samples = await asyncio.wait_for(scraped(), 15)
    assert samples[("codeblue_feed_fetches_total", (("outcome", "ok"),))] == 1  # /news check polled the feed
    assert samples[("codeblue_news_stories_posted_total", ())] == 1
    status, report = await _health(web)
    assert status == 200
    assert report["news_poll"]["last_completed_at"] is not None and report["news_poll"]["age_seconds"] < 60


async def test_metrics_count_a_reminder_and_its_lateness(fake, tmp_path):
    """A watch party whose one-hour reminder falls due 3 s after start-up (the bot's clock is shifted)."""
    clock = ShiftedClock(KST_21 - timedelta(hours=1, seconds=3))
    port = free_port()
    runner = BotRunner(fake, tmp_path / "codeblue.db", clock=clock, env={"CODEBLUE_WEB_PORT": str(port)})
    try:
        await runner.start()
        guild = fake.default_guild
        await set_up_watch_parties(fake, guild)
        await answer(fake, guild, guild.member("admin"), "config reminders", offsets="1h")
        await create_party(fake, guild, guild.member("fan1"), "Episode 6", f"{KST_21.astimezone(SEOUL):%Y-%m-%d %H:%M}")
        async with aiohttp.ClientSession() as http:

            async def scraped() -> dict:
                while True:
                    async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                        samples = _samples(await response.read())
                    if samples.get(("codeblue_reminders_total", (("outcome", "sent"),))):
                        return samples
                    await asyncio.sleep(0.25)

            samples = await asyncio.wait_for(scraped(), 15)
        assert samples[("codeblue_reminders_total", (("outcome", "sent"),))] == 1
        assert samples[("codeblue_reminder_lateness_seconds_count", ())] == 1
        assert samples[("codeblue_reminder_lateness_seconds_sum", ())] < 5
    finally:
        await runner.stop()


async def test_every_answer_is_get_only_with_security_headers_and_no_detail(web):
    status, headers, body = await web.get("/healthz")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    status, headers, body = await web.get("/nothing-here")
    assert status == 404 and body == b"not found\n"
    assert headers["X-Content-Type-Options"] == "nosniff"
    async with web.http.post(web.base + "/healthz", data=b"x") as response:
        assert response.status == 405
        assert response.headers["Allow"] == "GET, HEAD"
    async with web.http.head(web.base + "/healthz") as response:
        assert response.status == 200


async def test_one_address_is_rate_limited(web):
    statuses = [(await web.get("/nothing-here"))[0] for _ in range(70)]
    assert statuses[:60] == [404] * 60
    assert 429 in statuses[60:]
    status, headers, _ = await web.get("/healthz")
    assert status == 429 and int(headers["Retry-After"]) >= 1
