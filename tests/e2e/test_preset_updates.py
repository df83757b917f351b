"""`/show preset` on a server that already has the show: only the differences are applied (new seasons, corrected
dates and titles), threads, ratings and progress stay; an update that would remove episodes with threads is
refused; a preset season to be announced, then dated, gets its countdown."""

from datetime import UTC, datetime, timedelta
from importlib.resources import files
from zoneinfo import ZoneInfo

from bot.services.episodes import schedules as schedules_module
from tests.e2e.episode_steps import _discussion, _preset, _thread, _thread_posts

SEOUL = ZoneInfo("Asia/Seoul")
SHIPPED = files("bot").joinpath("presets", "trauma-code.toml").read_text(encoding="utf-8")


def _write(folder, text):
    folder.mkdir(exist_ok=True)
    (folder / "trauma-code.toml").write_text(text, encoding="utf-8")


def _with_title(text, number, title):
    marker = f"season = 1\nepisode = {number}\n"
    return text.replace(marker, marker + f'title = "{title}"\n')


def _season_two(premiere="tba", episodes=6):
    return f'\n[[season]]\nnumber = 2\nrelease_pace = "all_at_once"\npremiere = "{premiere}"\nepisodes = {episodes}\n'


async def test_rerun_after_edits_applies_only_the_differences(fake, runner, monkeypatch, tmp_path):
    folder = tmp_path / "presets"
    _write(folder, SHIPPED)
    monkeypatch.setattr(schedules_module, "PRESET_DIRECTORY", folder)
    bot = await runner.start()
    g = fake.default_guild
    admin = g.member("admin")
    await _discussion(bot, g, g.channel("episode-discussion"))
    assert (await _preset(fake, g)).startswith("Installed Trauma Code: Heroes on Call (중증외상센터): 8 episodes")
    await _thread(fake, g, admin, "S1E1")
    thread_id = int(_thread_posts(fake)[-1].response["id"])
    episode_id = int(_thread_posts(fake)[-1].json["message"]["components"][0]["components"][0]["custom_id"]
                     .split(":")[2])
    await (await fake.click(thread_id, f"ep:rate:{episode_id}:5", g.member("fan1"))).response()
    ix = await fake.slash(g, g.member("fan1"), "progress set", show="trauma-code", episode="S1E2")
    await ix.response()
    # An admin moves S1E4 by hand; the preset file gains a title and a season to be announced.
    ix = await fake.slash(g, admin, "episode schedule", show="trauma-code", season=1, episode=4,
                          airs="2025-01-25 17:00")
    await ix.response()
    _write(folder, _with_title(SHIPPED, 2, "The Golden Hour") + _season_two())

    reply = await _preset(fake, g)
    assert reply.split("\n")[:4] == [
        "Updated Trauma Code: Heroes on Call (중증외상센터): 14 episodes; all threads at release.",
        "• season 2 added",
        "• air times corrected: S1E4",
        "• titles corrected: S1E2",
    ]
    service = bot.get_cog("Episodes").service
    show = await service.lookup.show(g.id, "trauma-code")
    episodes = await service.lookup.episodes(show)
    assert len(episodes) == 14 and len({e.key for e in episodes}) == 14
    assert next(e for e in episodes if e.key == (1, 2)).title == "The Golden Hour"
    assert next(e for e in episodes if e.key == (1, 4)).airs_at == datetime(2025, 1, 24, 8, tzinfo=UTC)
    assert all(e.airs_at is None for e in episodes if e.season == 2)
    assert (await service.repo.get_thread(episode_id)).thread_id == thread_id
    assert (await service.ratings.rating(episode_id)).count == 1
    assert (await service.ratings.progress(g.member("fan1").id, show)).key == (1, 2)
    assert g.scheduled_events == {}
    assert len(_thread_posts(fake)) == 1

    # Nothing new: nothing changes. In Korean too.
    assert (await _preset(fake, g)).split("\n")[1] == "Nothing changed: it already matches the preset."
    assert (await _preset(fake, g, locale="ko")).split("\n")[1] == "바뀐 것이 없어요: 이미 프리셋과 같아요."

    # The preset dates season 2: a countdown and an event, like /show season edit.
    premiere = (datetime.now(SEOUL) + timedelta(days=30)).replace(second=0, microsecond=0)
    _write(folder, _with_title(SHIPPED, 2, "The Golden Hour")
           + _season_two(premiere.strftime("%Y-%m-%d %H:%M")))
    reply = await _preset(fake, g)
    assert reply.split("\n")[1:3] == ["• season 2: premiere updated", "• air times corrected: S2E1, S2E2, S2E3, "
                                      "S2E4, S2E5, S2E6"]
    [event] = g.scheduled_events.values()
    assert datetime.fromisoformat(event.scheduled_start_time) == premiere.astimezone(UTC)
    assert any("premiere" in r.json.get("name", "") for r in fake.requests_to("POST", "/channels/{channel_id}/threads"))


async def test_update_that_would_remove_episodes_with_threads_is_refused(fake, runner, monkeypatch, tmp_path):
    folder = tmp_path / "presets"
    _write(folder, SHIPPED)
    monkeypatch.setattr(schedules_module, "PRESET_DIRECTORY", folder)
    bot = await runner.start()
    g = fake.default_guild
    await _discussion(bot, g, g.channel("episode-discussion"))
    await _preset(fake, g)
    await _thread(fake, g, g.member("admin"), "S1E8")
    shorter = SHIPPED[:SHIPPED.index("[[episode]]\nseason = 1\nepisode = 8")]
    _write(folder, _with_title(shorter, 1, "Renamed") + _season_two())
    for locale, expected in (
        ("en-US", "Nothing was updated: the preset no longer lists S1E8, which already have discussion threads."),
        ("ko", "아무것도 바꾸지 않았어요: 프리셋에 더 이상 없는 S1E8에 이미 토론 스레드가 있어요."),
    ):
        assert (await _preset(fake, g, locale=locale)).startswith(expected)
    service = bot.get_cog("Episodes").service
    show = await service.lookup.show(g.id, "trauma-code")
    episodes = await service.lookup.episodes(show)
    assert [e.key for e in episodes] == [(1, n) for n in range(1, 9)]
    assert all(e.title is None for e in episodes)
    assert [s.number for s in await service.repo.list_seasons(show.id)] == [1]
    # Episodes without threads that the preset no longer lists are removed, and the reply says so.
    _write(folder, SHIPPED + _season_two(episodes=6))
    assert "• season 2 added" in await _preset(fake, g)
    _write(folder, SHIPPED + _season_two(episodes=4))
    assert (await _preset(fake, g)).split("\n")[1] == "• no longer in the preset, removed: S2E5, S2E6"
    assert [e.number for e in await service.lookup.episodes(show, 2)] == [1, 2, 3, 4]
