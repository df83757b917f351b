"""The direction of imports from DESIGN.md: domain is pure, services know no Discord, nothing imports cogs."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "bot/domain": ("discord", "aiohttp", "aiosqlite", "apscheduler", "db", "cogs", "bot.services", "bot.client",
                   "bot.ui", "bot.i18n", "bot.tree"),
    "bot/services": ("discord", "cogs", "bot.client", "bot.ui", "bot.tree"),
    "db": ("discord", "cogs", "bot.services", "bot.client", "bot.ui"),
    "bot": ("cogs",),
    "cogs": ("db", "cogs"),
}
# What a forbidden prefix still lets through: cogs may use the plain records of db.models.
ALLOWED = {"cogs": ("db.models",)}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _files():
    for folder, forbidden in FORBIDDEN.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield pytest.param(path, forbidden, ALLOWED.get(folder, ()), id=str(path.relative_to(ROOT)))


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize(("path", "forbidden", "allowed"), list(_files()))
def test_import_direction(path, forbidden, allowed):
    bad = sorted(name for name in _imports(path)
                 if any(_under(name, p) for p in forbidden) and not any(_under(name, a) for a in allowed))
    assert bad == []
