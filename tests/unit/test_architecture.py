"""The rules of docs/ARCHITECTURE.md that a machine can check: import directions, module sizes, self-contained docs."""

import ast
import re
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


# Size limits: a cog module over 400 lines or a service module over 500 is split by responsibility.
SIZE_LIMITS = {"cogs": 400, "bot/services": 500}


def _sized_files():
    for folder, limit in SIZE_LIMITS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield pytest.param(path, limit, id=str(path.relative_to(ROOT)))


@pytest.mark.parametrize(("path", "limit"), list(_sized_files()))
def test_module_size(path, limit):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= limit, f"{path.relative_to(ROOT)} has {lines} lines (limit {limit}): split it by responsibility"


# The design lives in docs/ARCHITECTURE.md; nothing in the repository cites a document outside it.
OUTSIDE_DOCUMENTS = re.compile(r"DESIGN\.md|STYLE\.md|\bthe brief\b|\.\./shared", re.IGNORECASE)


def _repository_files():
    for folder in ("bot", "cogs", "db", "tests", "benchmarks", "docs", ".ci"):
        for path in sorted((ROOT / folder).rglob("*")):
            readable = path.suffix in {".py", ".md", ".toml", ".sql", ""} and "__pycache__" not in path.parts
            if path.is_file() and readable:
                yield path
    yield from (ROOT / name for name in ("README.md", "pyproject.toml"))


def test_no_file_cites_a_document_outside_the_repository():
    this = Path(__file__).resolve()
    citing = [f"{path.relative_to(ROOT)}:{number}"
              for path in _repository_files() if path.resolve() != this
              for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
              if OUTSIDE_DOCUMENTS.search(line)]
    assert citing == []


def test_architecture_document_names_only_files_that_exist():
    """Every repository path docs/ARCHITECTURE.md names in backticks exists, so a newcomer's one hop lands."""
    document = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:bot|cogs|db|tests|benchmarks|docs)/[\w./-]+?)(?:::\w+)?`", document))
    missing = sorted(p for p in named if not re.search(r"[<*]|NNNN", p) and not (ROOT / p).exists())
    assert missing == []


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(path: Path, module: str, known: set[str]) -> set[str]:
    """Modules of ours that `path` imports when it runs (imports under `if TYPE_CHECKING:` do not run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    guarded = [node for node in ast.walk(tree)
               if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)]
    skipped = {id(n) for node in guarded for n in ast.walk(node)}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from package import submodule` needs the submodule; anything else needs the module itself.
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        found.update(name for name in names if name in known and name != module)
    return found


def test_no_import_cycles():
    files = {_module_name(p): p for folder in ("bot", "cogs", "db") for p in (ROOT / folder).rglob("*.py")}
    graph = {module: _runtime_imports(path, module, set(files)) for module, path in files.items()}
    cycles, state = [], {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                cycles.append([*trail[trail.index(target):], target] if target in trail else [module, target])
            elif target not in state:
                visit(target, [*trail, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_no_merge_conflict_markers():
    marked = [f"{path.relative_to(ROOT)}:{number}"
              for path in _repository_files()
              for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
              if line.startswith(("<<<<<<< ", ">>>>>>> "))]
    assert marked == []
