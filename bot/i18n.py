"""Message catalogs (en, ko) and the app-command translator built on them.

Catalogs are TOML files under `bot/locales/<language>/`, one or more per feature area, merged per language.
- Every table except `commands` and `choices` is flattened into dotted message keys (`config.saved`).
- `commands."<qualified name>"` holds a command's or group's localized `name` and `description`, and
  `params.<param>.name|description`; `choices.<value>` holds choice names. English command text is the source
  in the code, so only other languages need these tables.
"""

from __future__ import annotations

import logging
import string
import tomllib
from collections.abc import Mapping
from importlib import resources
from typing import Any

import discord
from discord import app_commands
from discord.app_commands import TranslationContextLocation as Loc

log = logging.getLogger(__name__)

DEFAULT_LANGUAGE = "en"
LANGUAGES = ("en", "ko")
# Discord locales whose members get a catalog other than English.
_LOCALE_LANGUAGE = {discord.Locale.korean: "ko"}


def language_for(locale: discord.Locale | str | None) -> str:
    """The catalog language for a Discord locale ('ko' for Korean, else English)."""
    if locale is None:
        return DEFAULT_LANGUAGE
    if isinstance(locale, str):
        return locale.split("-")[0] if locale.split("-")[0] in LANGUAGES else DEFAULT_LANGUAGE
    return _LOCALE_LANGUAGE.get(locale, DEFAULT_LANGUAGE)


def _flatten(prefix: str, table: Mapping[str, Any], out: dict[str, str]) -> None:
    for key, value in table.items():
        full = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            _flatten(full, value, out)
        else:
            out[full] = str(value)


def placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


class Catalog:
    def __init__(self, messages: dict[str, dict[str, str]], commands: dict[str, dict[str, Any]],
                 choices: dict[str, dict[str, str]]) -> None:
        self.messages = messages
        self.commands = commands
        self.choices = choices

    @classmethod
    def load(cls) -> Catalog:
        messages: dict[str, dict[str, str]] = {}
        commands: dict[str, dict[str, Any]] = {}
        choices: dict[str, dict[str, str]] = {}
        root = resources.files("bot") / "locales"
        for language in LANGUAGES:
            messages[language], commands[language], choices[language] = {}, {}, {}
            for entry in sorted((root / language).iterdir(), key=lambda e: e.name):
                if not entry.name.endswith(".toml"):
                    continue
                data = tomllib.loads(entry.read_text(encoding="utf-8"))
                commands[language].update(data.pop("commands", {}))
                choices[language].update(data.pop("choices", {}))
                flat: dict[str, str] = {}
                _flatten("", data, flat)
                duplicated = set(flat) & set(messages[language])
                if duplicated:
                    raise ValueError(f"message keys defined twice in locales/{language}: {sorted(duplicated)}")
                messages[language].update(flat)
        return cls(messages, commands, choices)

    def text(self, locale: discord.Locale | str | None, key: str, /, **params: object) -> str:
        """The message `key` in the locale's language (English when missing there), formatted with `params`."""
        language = language_for(locale)
        template = self.messages[language].get(key) or self.messages[DEFAULT_LANGUAGE].get(key)
        if template is None:
            log.error("message key %r is missing from the catalog", key)
            return key
        try:
            return template.format(**params)
        except (KeyError, IndexError, ValueError):
            log.exception("message %r could not be formatted with %s", key, sorted(params))
            return template

    def has(self, key: str) -> bool:
        return key in self.messages[DEFAULT_LANGUAGE]

    def command_text(self, language: str, qualified_name: str, field: str, param: str | None = None) -> str | None:
        entry = self.commands.get(language, {}).get(qualified_name)
        if entry is None:
            return None
        if param is not None:
            entry = entry.get("params", {}).get(param)
            if entry is None:
                return None
        value = entry.get(field)
        return str(value) if value is not None else None


class CatalogTranslator(app_commands.Translator):
    """Localizes command names, descriptions, options and choices from the catalogs' `commands` tables."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    async def translate(
        self, string: app_commands.locale_str, locale: discord.Locale, context: app_commands.TranslationContextTypes
    ) -> str | None:
        language = _LOCALE_LANGUAGE.get(locale)
        if language is None:
            return None
        data = context.data
        location = context.location
        if isinstance(data, app_commands.Command | app_commands.Group | app_commands.ContextMenu):
            if location in (Loc.command_name, Loc.group_name):
                return self.catalog.command_text(language, data.qualified_name, "name")
            if location in (Loc.command_description, Loc.group_description):
                return self.catalog.command_text(language, data.qualified_name, "description")
        if isinstance(data, app_commands.Parameter) and location in (Loc.parameter_name, Loc.parameter_description):
            field = "name" if location is Loc.parameter_name else "description"
            return self.catalog.command_text(language, data.command.qualified_name, field, param=data.name)
        if isinstance(data, app_commands.Choice) and location is Loc.choice_name:
            return self.catalog.choices.get(language, {}).get(str(data.value))
        return None
