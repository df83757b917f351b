"""Discord's form-body limits, checked the way Discord checks them.

Each `check_*` function returns Discord's nested `errors` object (empty dict when the body is valid); the server
answers 400 `{"code": 50035, "message": "Invalid Form Body", "errors": ...}` and records a violation when it is not
empty. Limits: content 2000; 10 embeds; embed title 256, description 4096, 25 fields, field name 256 / value 1024,
footer 2048, author name 256, 6000 characters over all embeds; 5 action rows, 5 buttons per row, custom_id 100,
label 80, select options 25; thread name 1..100; 25 autocomplete choices, choice name 100.
"""

from __future__ import annotations

from typing import Any

Errors = dict[str, Any]


def _error(code: str, message: str) -> dict[str, Any]:
    return {"_errors": [{"code": code, "message": message}]}


def _too_long(limit: int) -> dict[str, Any]:
    return _error("BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def _too_many(limit: int) -> dict[str, Any]:
    return _error("BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def _check_len(errors: Errors, key: str, value: Any, limit: int) -> None:
    if isinstance(value, str) and len(value) > limit:
        errors[key] = _too_long(limit)


def check_embed(embed: dict[str, Any]) -> tuple[Errors, int]:
    """Errors of one embed and its text length (what counts towards the 6000 total)."""
    errors: Errors = {}
    _check_len(errors, "title", embed.get("title"), 256)
    _check_len(errors, "description", embed.get("description"), 4096)
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    footer = embed.get("footer") or {}
    if len(footer.get("text") or "") > 2048:
        errors["footer"] = {"text": _too_long(2048)}
    total += len(footer.get("text") or "")
    author = embed.get("author") or {}
    if len(author.get("name") or "") > 256:
        errors["author"] = {"name": _too_long(256)}
    total += len(author.get("name") or "")
    fields = embed.get("fields") or []
    if len(fields) > 25:
        errors["fields"] = _too_many(25)
    field_errors: Errors = {}
    for index, item in enumerate(fields):
        one: Errors = {}
        _check_len(one, "name", item.get("name"), 256)
        _check_len(one, "value", item.get("value"), 1024)
        if not item.get("name") or not item.get("value"):
            one.setdefault("value" if item.get("name") else "name",
                           _error("BASE_TYPE_REQUIRED", "This field is required"))
        if one:
            field_errors[str(index)] = one
        total += len(item.get("name") or "") + len(item.get("value") or "")
    if field_errors and "fields" not in errors:
        errors["fields"] = field_errors
    return errors, total


def check_components(components: list[dict[str, Any]]) -> Errors:
    errors: Errors = {}
    if len(components) > 5:
        return {"components": _too_many(5)}
    for row_index, row in enumerate(components):
        if row.get("type") != 1:
            continue
        children = row.get("components") or []
        row_errors: Errors = {}
        buttons = [c for c in children if c.get("type") == 2]
        selects = [c for c in children if c.get("type") in (3, 5, 6, 7, 8)]
        if len(buttons) > 5 or len(children) > 5:
            row_errors["components"] = _too_many(5)
        elif selects and len(children) > 1:
            row_errors["components"] = _error("COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                                              "The specified component exceeds the maximum width")
        for index, child in enumerate(children):
            child_errors: Errors = {}
            _check_len(child_errors, "custom_id", child.get("custom_id"), 100)
            _check_len(child_errors, "label", child.get("label"), 80)
            _check_len(child_errors, "placeholder", child.get("placeholder"), 150)
            if child.get("type") == 2 and child.get("style") != 5 and child.get("style") != 6 \
                    and not child.get("custom_id"):
                child_errors["custom_id"] = _error("BASE_TYPE_REQUIRED", "This field is required")
            if len(child.get("options") or []) > 25:
                child_errors["options"] = _too_many(25)
            if child_errors:
                row_errors.setdefault("components", {})
                if isinstance(row_errors["components"], dict) and "_errors" not in row_errors["components"]:
                    row_errors["components"][str(index)] = child_errors
        if row_errors:
            errors.setdefault("components", {})[str(row_index)] = row_errors
    return errors


def check_message(payload: dict[str, Any]) -> Errors:
    """Limits of a message body (create, edit, interaction response, followup, forum starter message)."""
    errors: Errors = {}
    _check_len(errors, "content", payload.get("content"), 2000)
    embeds = payload.get("embeds") or []
    if len(embeds) > 10:
        errors["embeds"] = _too_many(10)
    else:
        embed_errors: Errors = {}
        total = 0
        for index, embed in enumerate(embeds):
            one, length = check_embed(embed)
            total += length
            if one:
                embed_errors[str(index)] = one
        if total > 6000:
            embed_errors.setdefault("_errors", []).append(
                {"code": "MAX_EMBED_SIZE_EXCEEDED", "message": "Embed size exceeds maximum size of 6000"})
        if embed_errors:
            errors["embeds"] = embed_errors
    errors.update(check_components(payload.get("components") or []))
    return errors


def check_thread_name(name: Any) -> Errors:
    if not isinstance(name, str) or not name.strip():
        return {"name": _error("BASE_TYPE_REQUIRED", "This field is required")}
    if len(name) > 100:
        return {"name": _too_long(100)}
    return {}


def check_choices(choices: list[dict[str, Any]]) -> Errors:
    if len(choices) > 25:
        return {"choices": _too_many(25)}
    errors: Errors = {}
    for index, choice in enumerate(choices):
        one: Errors = {}
        _check_len(one, "name", choice.get("name"), 100)
        if isinstance(choice.get("value"), str):
            _check_len(one, "value", choice.get("value"), 100)
        if one:
            errors.setdefault("choices", {})[str(index)] = one
    return errors
