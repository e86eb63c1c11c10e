"""Layers (docs/architecture.md): an app imports only from the layers below it.

The same rule as the import-linter contract in pyproject.toml, checked here with ``ast`` so
that ``uv run pytest`` alone catches a violation, plus a run of import-linter itself.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "comptoir"

# Top to bottom; apps on one line are independent of each other, except config and web,
# which form the top together (settings and URLs name web, web may use config).
LAYERS: list[tuple[set[str], bool]] = [
    ({"config", "web"}, False),
    ({"integration", "analytics"}, True),
    ({"sales", "purchasing", "manufacturing", "hr"}, True),
    ({"inventory", "banking"}, True),
    ({"accounting", "crm"}, True),
    ({"contacts", "catalog"}, True),
    ({"org"}, True),
    ({"kernel"}, True),
]
RANK = {app: rank for rank, (apps, _independent) in enumerate(LAYERS) for app in apps}
INDEPENDENT = {app: independent for apps, independent in LAYERS for app in apps}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool = False) -> set[str]:
    """Absolute names of every module imported by ``source`` (including inside functions)."""
    names: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            names.add(prefix)
            names.update(f"{prefix}.{alias.name}" for alias in node.names)
    return names


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    importer = module.split(".")[1] if module.count(".") >= 1 else ""
    found = []
    for name in sorted(imported_modules(source, module, is_package)):
        parts = name.split(".")
        if parts[0] != "comptoir" or len(parts) < 2 or parts[1] == importer:
            continue
        imported = parts[1]
        if importer not in RANK or imported not in RANK:
            found.append(f"{module} imports {name}: add {importer if importer not in RANK else imported} to LAYERS")
        elif RANK[imported] < RANK[importer] or (RANK[imported] == RANK[importer] and INDEPENDENT[importer]):
            found.append(f"{module} imports {name}, which is not in a layer below {importer}")
    return found


def test_no_app_imports_a_higher_or_sibling_layer() -> None:
    problems = []
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 20
    for path in files:
        module = _module_name(path)
        # An app's own tests may drive the whole stack (personas, the CLI, the URLs).
        if module == "comptoir" or ".tests" in module:
            continue
        problems += violations(path.read_text(encoding="utf-8"), module, path.name == "__init__.py")
    assert problems == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("comptoir.kernel.audit", "from comptoir.org.models import User", "not in a layer below kernel"),
        ("comptoir.kernel.audit", "def f():\n    import comptoir.web.views", "not in a layer below kernel"),
        ("comptoir.org.services", "from ..web import views", "comptoir.web"),
        ("comptoir.crm.services", "from comptoir.accounting import services", "not in a layer below crm"),
        ("comptoir.shiny.services", "from comptoir.kernel import audit", "add shiny to LAYERS"),
    ],
)
def test_the_checker_catches_violations(module: str, source: str, expected: str) -> None:
    found = violations(source, module)
    assert found and expected in found[0]


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("comptoir.org.services", "from comptoir.kernel import audit"),
        ("comptoir.sales.services", "from comptoir.inventory.services import reserve"),
        ("comptoir.web.views", "from comptoir.config import settings\nfrom comptoir.org import selectors"),
        ("comptoir.org.services", "from . import validators\nfrom .models import Company"),
    ],
)
def test_the_checker_allows_imports_downwards(module: str, source: str) -> None:
    assert violations(source, module) == []


def test_import_linter_contract_is_kept() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint_imports)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
