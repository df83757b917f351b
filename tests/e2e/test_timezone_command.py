"""/timezone set and /timezone show end to end."""

from tests.e2e import member_steps

clock = member_steps.clock  # the shared fixtures


async def test_timezone_set_and_show(fake, runner, clock):
    g = fake.default_guild
    await runner.start()
    user = g.member("fan2")
    show = await fake.slash(g, user, "timezone show")
    assert (await show.response()).content.startswith("Neither you nor the server set a time zone")
    ix = await fake.slash(g, user, "timezone set", tz="PST")
    response = await ix.response()
    assert response.ephemeral
    assert response.content.startswith("Your time zone is now America/Los_Angeles")
    assert "PST is an abbreviation" in response.content
    unknown = await fake.slash(g, user, "timezone set", tz="Mars/Base")
    assert (await unknown.response()).content.startswith("“Mars/Base” is not a time zone I know.")
    ac = await fake.autocomplete(g, user, "timezone set", focused="tz", value="seo")
    assert "Asia/Seoul" in [c["value"] for c in (await ac.response()).choices]
    show = await fake.slash(g, user, "timezone show", locale="ko")
    assert (await show.response()).content.startswith("내 시간대는 America/Los_Angeles이에요")
