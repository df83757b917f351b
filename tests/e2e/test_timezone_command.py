"""/timezone set and /timezone show end to end."""

from tests.e2e import member_steps
from tests.e2e.member_steps import answer, set_timezone

clock = member_steps.clock  # the shared fixtures


async def test_timezone_set_and_show(fake, runner, clock):
    g = fake.default_guild
    await runner.start()
    user = g.member("fan2")
    assert (await answer(fake, g, user, "timezone show")).startswith("Neither you nor the server set a time zone")
    said = await set_timezone(fake, g, user, "PST")  # answered to the member alone
    assert said.startswith("Your time zone is now America/Los_Angeles")
    assert "PST is an abbreviation" in said
    assert (await set_timezone(fake, g, user, "Mars/Base")).startswith("“Mars/Base” is not a time zone I know.")
    ac = await fake.autocomplete(g, user, "timezone set", focused="tz", value="seo")
    assert "Asia/Seoul" in [c["value"] for c in (await ac.response()).choices]
    shown = await answer(fake, g, user, "timezone show", locale="ko")
    assert shown.startswith("내 시간대는 America/Los_Angeles이에요")
