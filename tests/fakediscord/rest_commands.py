"""REST routes for application commands, global and per guild: bulk overwrite (PUT, what tree.sync() uses),
list, get, create/upsert, edit, delete. Records every bulk overwrite in `FakeDiscord.command_syncs`; answers with
ids, version, application_id, and Discord's field shapes (default_member_permissions as a string).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .rest import api_error, body, check_form, get_guild, route

if TYPE_CHECKING:
    from .server import FakeDiscord, RecordedRequest


def _command_record(fake: FakeDiscord, data: dict[str, Any], guild_id: int | None,
                    existing: dict[str, Any] | None) -> dict[str, Any]:
    record = {
        "id": existing["id"] if existing else str(fake.ids.next()),
        "application_id": str(fake.application_id),
        "version": str(fake.ids.next()),
        "type": int(data.get("type", 1)),
        "name": data["name"],
        "name_localizations": data.get("name_localizations"),
        "description": data.get("description", ""),
        "description_localizations": data.get("description_localizations"),
        "options": data.get("options") or [],
        # discord.py sends an int; Discord stores and answers a string
        "default_member_permissions": None if data.get("default_member_permissions") is None
        else str(data["default_member_permissions"]),
        "dm_permission": data.get("dm_permission", True),
        "nsfw": bool(data.get("nsfw", False)),
        "integration_types": data.get("integration_types", [0]),
        "contexts": data.get("contexts"),
    }
    if guild_id is not None:
        record["guild_id"] = str(guild_id)
    return record


_NAME_OK = r"^[-_\w]{1,32}$"


def _check_command(data: dict[str, Any], index: int) -> dict[str, Any]:
    errors: dict[str, Any] = {}
    name = data.get("name") or ""
    kind = int(data.get("type", 1))
    if kind == 1 and (not re.match(_NAME_OK, name) or name != name.lower()):
        errors["name"] = {"_errors": [{"code": "APPLICATION_COMMAND_INVALID_NAME", "message": "Invalid name"}]}
    if kind == 1 and not 1 <= len(data.get("description") or "") <= 100:
        errors["description"] = {"_errors": [{"code": "BASE_TYPE_BAD_LENGTH", "message": "Must be 1-100."}]}
    if len(data.get("options") or []) > 25:
        errors["options"] = {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 25 or fewer."}]}
    return {str(index): errors} if errors else {}


def _bulk(fake: FakeDiscord, table: dict[int, dict[str, Any]], commands: list[dict[str, Any]],
          guild_id: int | None) -> list[dict[str, Any]]:
    errors: dict[str, Any] = {}
    for index, data in enumerate(commands):
        errors.update(_check_command(data, index))
    names = [(int(c.get("type", 1)), c.get("name")) for c in commands]
    if len(set(names)) != len(names):
        errors["_errors"] = [{"code": "APPLICATION_COMMANDS_DUPLICATE_NAME", "message": "Duplicate names"}]
    check_form(errors)
    by_name = {(int(c["type"]), c["name"]): c for c in table.values()}
    table.clear()
    for data in commands:
        record = _command_record(fake, data, guild_id, by_name.get((int(data.get("type", 1)), data["name"])))
        table[int(record["id"])] = record
    fake.command_syncs.append((guild_id, [c["name"] for c in commands]))
    return list(table.values())


def _app_check(fake: FakeDiscord, req: RecordedRequest) -> None:
    if req.params.get("application_id") != str(fake.application_id):
        raise api_error(403, 50001, "Missing Access")


@route("PUT", "/applications/{application_id}/commands")
async def bulk_global(fake: FakeDiscord, req: RecordedRequest) -> Any:
    _app_check(fake, req)
    return _bulk(fake, fake.global_commands, req.json or [], None)


@route("PUT", "/applications/{application_id}/guilds/{guild_id}/commands")
async def bulk_guild(fake: FakeDiscord, req: RecordedRequest) -> Any:
    _app_check(fake, req)
    guild = get_guild(fake, req.params["guild_id"])
    return _bulk(fake, fake.guild_commands.setdefault(guild.id, {}), req.json or [], guild.id)


def _table(fake: FakeDiscord, req: RecordedRequest) -> tuple[dict[int, dict[str, Any]], int | None]:
    _app_check(fake, req)
    if "guild_id" in req.params:
        guild = get_guild(fake, req.params["guild_id"])
        return fake.guild_commands.setdefault(guild.id, {}), guild.id
    return fake.global_commands, None


@route("GET", "/applications/{application_id}/commands")
@route("GET", "/applications/{application_id}/guilds/{guild_id}/commands")
async def list_commands(fake: FakeDiscord, req: RecordedRequest) -> Any:
    table, _ = _table(fake, req)
    return list(table.values())


def _one_command(table: dict[int, dict[str, Any]], command_id: str) -> dict[str, Any]:
    command = table.get(int(command_id)) if command_id.isdigit() else None
    if command is None:
        raise api_error(404, 10063, "Unknown application command")
    return command


@route("GET", "/applications/{application_id}/commands/{command_id}")
@route("GET", "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}")
async def get_command(fake: FakeDiscord, req: RecordedRequest) -> Any:
    table, _ = _table(fake, req)
    return _one_command(table, req.params["command_id"])


@route("POST", "/applications/{application_id}/commands")
@route("POST", "/applications/{application_id}/guilds/{guild_id}/commands")
async def upsert_command(fake: FakeDiscord, req: RecordedRequest) -> Any:
    table, guild_id = _table(fake, req)
    data = body(req)
    check_form(_check_command(data, 0).get("0", {}))
    existing = next((c for c in table.values() if c["name"] == data["name"]
                     and c["type"] == int(data.get("type", 1))), None)
    record = _command_record(fake, data, guild_id, existing)
    table[int(record["id"])] = record
    return record


@route("PATCH", "/applications/{application_id}/commands/{command_id}")
@route("PATCH", "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}")
async def edit_command(fake: FakeDiscord, req: RecordedRequest) -> Any:
    table, guild_id = _table(fake, req)
    command = _one_command(table, req.params["command_id"])
    record = _command_record(fake, {**command, **body(req)}, guild_id, command)
    table[int(record["id"])] = record
    return record


@route("DELETE", "/applications/{application_id}/commands/{command_id}")
@route("DELETE", "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}")
async def delete_command(fake: FakeDiscord, req: RecordedRequest) -> Any:
    table, _ = _table(fake, req)
    command = _one_command(table, req.params["command_id"])
    del table[int(command["id"])]
