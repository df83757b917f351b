"""Every message and every command localization exists in English and Korean."""

import aiohttp
import discord
import pytest
from discord import app_commands

from bot.client import DEFAULT_EXTENSIONS, CodeBlueBot
from bot.config import parse_settings
from bot.i18n import Catalog, language_for, placeholders
from db.migrate import migrate

CATALOG = Catalog.load()


def test_same_message_keys_in_both_languages():
    en, ko = set(CATALOG.messages["en"]), set(CATALOG.messages["ko"])
    assert sorted(en - ko) == [], "missing in ko"
    assert sorted(ko - en) == [], "missing in en"


@pytest.mark.parametrize("key", sorted(CATALOG.messages["en"]))
def test_same_placeholders(key):
    assert placeholders(CATALOG.messages["en"][key]) == placeholders(CATALOG.messages["ko"].get(key, ""))


def test_lookup_by_locale_and_fallback():
    assert language_for(discord.Locale.korean) == "ko"
    assert language_for(discord.Locale.american_english) == "en"
    assert language_for(discord.Locale.japanese) == "en"
    assert language_for(None) == "en"
    assert CATALOG.text(discord.Locale.korean, "config.not_set") == "설정 안 됨"
    assert CATALOG.text(discord.Locale.french, "config.not_set") == "not set"
    assert CATALOG.text("ko", "errors.cooldown", seconds=3) == "조금 천천히요: 3초 뒤에 다시 해 주세요."
    assert CATALOG.text("en", "no.such.key") == "no.such.key"


def _valid_name(name: str) -> bool:
    return 1 <= len(name) <= 32 and name == name.lower() and all(c.isalnum() or c in "-_'" for c in name)


@pytest.fixture
async def loaded_bot(tmp_path):
    settings = parse_settings({"CODEBLUE_DB": str(tmp_path / "c.db")}, require_token=False)
    async with aiohttp.ClientSession() as session:
        bot = CodeBlueBot(settings, session=session)
        await bot.db.connect()
        await migrate(bot.db)
        for extension in DEFAULT_EXTENSIONS:
            await bot.load_extension(extension)
        yield bot
        for extension in DEFAULT_EXTENSIONS:
            await bot.unload_extension(extension)
        await bot.db.close()


async def test_every_command_is_localized_in_korean(loaded_bot):
    problems = []
    nodes = list(loaded_bot.tree.walk_commands())
    assert any(n.qualified_name == "config channel" for n in nodes)
    for node in nodes:
        name = CATALOG.command_text("ko", node.qualified_name, "name")
        description = CATALOG.command_text("ko", node.qualified_name, "description")
        if not name or not _valid_name(name):
            problems.append(f"/{node.qualified_name}: name {name!r}")
        if not description or len(description) > 100:
            problems.append(f"/{node.qualified_name}: description {description!r}")
        if _valid_name(node.name) is False or len(node.description) > 100:
            problems.append(f"/{node.qualified_name}: English name or description")
        if isinstance(node, app_commands.Command):
            for param in node.parameters:
                pname = CATALOG.command_text("ko", node.qualified_name, "name", param=param.name)
                pdesc = CATALOG.command_text("ko", node.qualified_name, "description", param=param.name)
                if not pname or not _valid_name(pname):
                    problems.append(f"/{node.qualified_name} {param.name}: name {pname!r}")
                if not pdesc or len(pdesc) > 100:
                    problems.append(f"/{node.qualified_name} {param.name}: description {pdesc!r}")
                for choice in param.choices:
                    if str(choice.value) not in CATALOG.choices["ko"]:
                        problems.append(f"/{node.qualified_name} {param.name}: choice {choice.value!r}")
    assert problems == []
