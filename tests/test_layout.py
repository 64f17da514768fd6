"""The package's layers, checked over every import (lazy ones included), and its public surface.

Layers, lowest first (docs/architecture.md draws them):

- ``base``: errors and the shared PostgreSQL facts (``errors``, ``postgres``), the embedded
  PostgreSQL helper (``testing/``);
- ``instrumentation``: events, New Relic, Datadog, OpenTelemetry;
- ``embedders``: text to vectors;
- ``client``: the provider-agnostic client (``client/``, the public ``retry``) and the stores
  behind it (``providers/``);
- ``orm``: the Django side (``db/``, ``checks``, ``indexes``, ``apps``, ``models`` (the sync
  outbox), ``installer/``, ``management/``, ``migrations/``);
- ``api``: the package itself, which re-exports the public names.

A module imports only from its own layer or lower ones.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import vectra_django

PACKAGE = Path(vectra_django.__file__).parent
MAX_LINES = 420  # "about 400": one idea per module

LAYERS = ["base", "instrumentation", "embedders", "client", "orm", "api"]
LAYER_OF_PREFIX = {
    "vectra_django.errors": "base",
    "vectra_django.postgres": "base",
    "vectra_django.testing": "base",
    "vectra_django.instrumentation": "instrumentation",
    "vectra_django.embedders": "embedders",
    "vectra_django.client": "client",
    "vectra_django.retry": "client",
    "vectra_django.providers": "client",
    "vectra_django.db": "orm",
    "vectra_django.checks": "orm",
    "vectra_django.indexes": "orm",
    "vectra_django.admin": "orm",
    "vectra_django.apps": "orm",
    "vectra_django.models": "orm",
    "vectra_django.installer": "orm",
    "vectra_django.management": "orm",
    "vectra_django.migrations": "orm",
}
# The one client-side module that lends Django's own database connections to the pgvector
# provider (``DATABASE`` aliases); it imports ``django.db`` inside methods only.
DJANGO_DB_ALLOWED = {"vectra_django.providers.pgvector.connection"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> str | None:
    if module == "vectra_django":
        return "api"
    for prefix, name in LAYER_OF_PREFIX.items():
        if module == prefix or module.startswith(prefix + "."):
            return name
    return None


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports(module: str, *, runtime_only: bool = False) -> set[str]:
    """Every module ``module`` imports, at any depth of its code, resolved to module names
    (``from . import x`` names the submodule ``x``)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    skip = _type_checking_lines(tree) if runtime_only else set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                found.add(submodule if submodule in MODULES else target)
    return found


def internal(names: set[str]) -> set[str]:
    return {n for n in names if n in MODULES}


def test_every_module_is_in_a_layer() -> None:
    assert [m for m in MODULES if layer(m) is None] == []


def test_no_module_imports_a_higher_layer() -> None:
    offenders = []
    for module in MODULES:
        own = LAYERS.index(layer(module))  # type: ignore[arg-type]
        for target in internal(imports(module)):
            if LAYERS.index(layer(target)) > own:  # type: ignore[arg-type]
                offenders.append(f"{module} ({layer(module)}) -> {target} ({layer(target)})")
    assert offenders == []


def test_the_client_side_never_imports_the_django_orm() -> None:
    offenders = []
    for module in MODULES:
        if layer(module) not in ("base", "client"):
            continue
        for target in imports(module):
            if (
                target.startswith("django.db.models")
                or target.startswith("django.db.migrations")
                or (target.startswith("django.db") and module not in DJANGO_DB_ALLOWED)
            ):
                offenders.append(f"{module} -> {target}")
    assert offenders == []


def test_only_providers_import_a_providers_own_modules() -> None:
    """Outside ``providers/``, only the package itself (``load``, ``BaseProvider``) is used."""
    offenders = [
        f"{module} -> {target}"
        for module in MODULES
        if not module.startswith("vectra_django.providers")
        for target in internal(imports(module))
        if target.startswith("vectra_django.providers.")
    ]
    assert offenders == []


def test_providers_never_import_the_client_that_calls_them() -> None:
    """Providers use the client's values (results, requests, validation, filters); the
    ``Client`` and its registry sit above them."""
    top = {"vectra_django.client", "vectra_django.client.client", "vectra_django.client.registry"}
    offenders = [
        f"{module} -> {target}"
        for module in MODULES
        if module.startswith("vectra_django.providers")
        for target in internal(imports(module))
        if target in top
    ]
    assert offenders == []


def _cycle() -> list[str] | None:
    graph = {m: internal(imports(m, runtime_only=True)) - {m} for m in MODULES}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for module in MODULES:
        if module not in state and (found := visit(module)):
            return found
    return None


def test_there_is_no_import_circle() -> None:
    assert _cycle() is None


def test_no_module_is_much_over_400_lines() -> None:
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_the_layout_checks_can_fail(tmp_path: Path) -> None:
    """The import reader resolves relative, lazy and ``from . import`` forms."""
    found = imports("vectra_django.db.queryset")
    assert "vectra_django.db.search.inplace" in found
    assert "vectra_django.client.validation" in found  # from ..client import validation
    lazy = imports("vectra_django.providers.pgvector.connection")
    assert "django.db" in lazy  # imported inside a method
    assert "vectra_django" not in imports("vectra_django.client.retry")  # from .. import errors
    assert layer("vectra_django.db.fields") == "orm"
    assert layer("vectra_django.nowhere") is None


def test_public_names_are_exactly_the_documented_ones() -> None:
    assert sorted(vectra_django.__all__) == [
        "Client",
        "Match",
        "QueryResult",
        "Vector",
        "VectorField",
        "VectorMixin",
        "clients",
        "on_operation",
    ]


@pytest.mark.parametrize(
    "statement",
    [
        "from vectra_django import Client, Match, QueryResult, Vector, clients, on_operation",
        "from vectra_django import VectorField, VectorMixin",
        "from vectra_django.indexes import HnswIndex, IvfflatIndex, VectorExtension, opclass",
        "from vectra_django.embedders import Embedder, HashingEmbedder, get_embedder",
        "from vectra_django.errors import ValidationError, NotFoundError, VectraError",
        "from vectra_django.retry import with_retry, is_retryable",
        "from vectra_django.instrumentation import instrument, clear_handlers",
        "from vectra_django.instrumentation import newrelic, datadog, otel",
    ],
)
def test_documented_import_paths_work(statement: str) -> None:
    exec(statement, {})


def test_importing_the_package_needs_no_settings_or_app_registry() -> None:
    code = (
        "import vectra_django, sys; "
        "from vectra_django import Client; "
        "c = Client(provider='memory'); c.create_index('x', dimension=2); "
        "assert not [m for m in sys.modules if m.startswith('vectra_django.db')]; print('ok')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert out.stdout.strip() == "ok", out.stderr


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        vectra_django.Nope  # noqa: B018
