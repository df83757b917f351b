"""The public fan page in a real browser (Debian's Chromium driven by Playwright), fed by the real bot.

The bot runs against the fake Discord with a real watch party, RSVPs, episode ratings and a posted news alert;
the browser opens the page in two time zones and two languages. Screenshots go to the test's temp folder.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, async_playwright

from tests.e2e.member_steps import KST_21, PARTY_DAY, answer, create_party, rsvp, set_up_watch_parties
from tests.feeds import fixtures
from tests.feeds.builders import Item

feed_server = fixtures.feed_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    assert CHROMIUM.exists(), "the browser tests need Debian's chromium (.ci/run installs it)"
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def _fan_server(fake, web, feed_server) -> str:
    """A server with a party (2 going, 1 maybe), two rated episodes and one posted story; its page URL."""
    guild = fake.default_guild
    admin = guild.member("admin")
    await set_up_watch_parties(fake, guild)
    _, announcement = await create_party(fake, guild, guild.member("fan1"), "Episode 5 <together>",
                                         f"{PARTY_DAY:%Y-%m-%d} 21:00")
    await rsvp(fake, announcement, guild.member("fan1"), "going")
    await rsvp(fake, announcement, guild.member("fan2"), "going")
    await rsvp(fake, announcement, guild.member("fan3"), "maybe")

    await answer(fake, guild, admin, "config channel", kind="discussion", channel=guild.channel("episode-discussion"))
    await answer(fake, guild, admin, "show preset", name="trauma-code")
    await answer(fake, guild, admin, "progress set", show="trauma-code", episode="S1E8")  # no spoiler check
    for episode, votes in (("S1E1", [5, 4]), ("S1E2", [3])):
        mark = fake.mark()
        await answer(fake, guild, admin, "episode thread", show="trauma-code", episode=episode)
        [post] = fake.requests_to("POST", "/channels/{channel_id}/threads", since=mark)
        starter = fake.message(post.response["id"])
        episode_id = starter["components"][0]["components"][0]["custom_id"].split(":")[2]
        for name, stars in zip(("fan1", "fan2"), votes, strict=False):
            click = await fake.click(starter["id"], f"ep:rate:{episode_id}:{stars}", guild.member(name))
            await click.followups(1)

    await answer(fake, guild, admin, "config channel", kind="news", channel=guild.channel("news"))
    feed_server.serve_items("/news", [], title="Drama Daily")
    await answer(fake, guild, admin, "news feed add", url=feed_server.url("/news"))
    feed_server.add_item("/news", Item(title="Trauma Code Season 2 confirmed", link="https://news.test/s2",
                                       guid="s2", published=datetime.now(UTC)))
    await answer(fake, guild, admin, "news check")

    reply = await answer(fake, guild, admin, "config web", public="on")
    return re.search(r"https?://\S+/s/[\w-]+", reply).group(0)


async def test_public_page_in_two_time_zones_and_two_languages(fake, web, feed_server, browser, tmp_path):
    url = await _fan_server(fake, web, feed_server)

    seoul = await browser.new_context(timezone_id="Asia/Seoul", locale="en-US", viewport={"width": 390, "height": 844})
    page = await seoul.new_page()
    response = await page.goto(url)
    assert response is not None and response.status == 200
    party = page.locator("ol.parties li").first
    await party.locator("time[data-converted]").wait_for()
    assert "21:00" in await party.locator("time").inner_text()
    assert "Episode 5 <together>" in await party.locator("h3").inner_text()
    assert "Going 2 · Maybe 1" in await party.inner_text()
    content = await page.content()
    assert "haneul" not in content and "daniel" not in content  # no member names
    assert await page.locator("[data-local-note]").inner_text() == "Times are shown in your time zone (Asia/Seoul)."
    chart = page.locator("svg.chart")
    assert await chart.is_visible()
    box = await chart.bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 40
    assert "S1E1: 4.5 of 5 (2 votes)" in await page.locator("figure figcaption").inner_text()
    story = page.locator("ul.news li a").first
    assert await story.inner_text() == "Trauma Code Season 2 confirmed"
    assert await story.get_attribute("href") == "https://news.test/s2"
    assert "Drama Daily" in await page.locator("ul.news li").first.inner_text()
    add = page.get_by_role("link", name="Add to calendar")
    webcal = await add.get_attribute("href")
    assert webcal is not None and re.fullmatch(r"webcal://127\.0\.0\.1:\d+/calendar/[\w-]+\.ics", webcal)
    status, _, body = await web.get("/calendar/" + webcal.rsplit("/", 1)[1])
    assert status == 200 and b"Episode 5 <together>" in body
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.className") == "skip"
    await page.screenshot(path=str(tmp_path / "public-page-seoul.png"), full_page=True)

    new_york = await browser.new_context(timezone_id="America/New_York", locale="en-US")
    page = await new_york.new_page()
    await page.goto(url)
    party_time = page.locator("ol.parties li time").first
    await page.locator("ol.parties li time[data-converted]").first.wait_for()
    expected = KST_21.astimezone(ZoneInfo("America/New_York"))
    assert f"{expected:%H:%M}" in await party_time.inner_text()
    await page.screenshot(path=str(tmp_path / "public-page-new-york.png"), full_page=True)

    korean = await browser.new_context(timezone_id="Asia/Seoul", locale="ko-KR")
    page = await korean.new_page()
    await page.goto(url)
    assert await page.locator("html").get_attribute("lang") == "ko"
    assert await page.locator("h2#parties").inner_text() == "다가오는 같이 보기"
    assert "참석 2 · 미정 1" in await page.locator("ol.parties li").first.inner_text()
    await page.get_by_role("link", name="English").click()
    assert await page.locator("h2#parties").inner_text() == "Upcoming watch parties"
    await page.screenshot(path=str(tmp_path / "public-page-switched.png"), full_page=True)
    assert (tmp_path / "public-page-seoul.png").stat().st_size > 0


async def test_a_page_that_is_off_or_unknown_is_a_plain_404(fake, web, browser):
    guild = fake.default_guild
    reply = await answer(fake, guild, guild.member("admin"), "config web", public="on")
    url = re.search(r"https?://\S+/s/[\w-]+", reply).group(0)
    context = await browser.new_context()
    page = await context.new_page()
    assert (await page.goto(url)).status == 200
    assert await answer(fake, guild, guild.member("admin"), "config web", public="off") == (
        "The public fan page is off: its address now answers “not found”.")
    response = await page.goto(url)
    assert response.status == 404
    assert (await page.locator("body").inner_text()).strip() == "not found"
    assert (await page.goto(url.rsplit("/", 1)[0] + "/unknownToken123")).status == 404
