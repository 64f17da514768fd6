"""The public surface and the layering rule: the client side never imports the ORM side."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import vectra_django

PACKAGE = Path(vectra_django.__file__).parent
ORM_MODULES = {
    "fields",
    "mixins",
    "query",
    "sync",
    "checks",
    "tasks",
    "management",
    "indexes",
    "functions",
}
CLIENT_MODULES = [
    "client.py",
    "connections.py",
    "errors.py",
    "filters.py",
    "metrics.py",
    "retry.py",
    "types.py",
    "validation.py",
    "embedded.py",
    "instrumentation",
    "providers",
]


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


def _module_level_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    names = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ("." * node.level) + (node.module or "")
            names += [base] + [f"{base}.{a.name}" for a in node.names]
    return names


def test_client_layer_does_not_import_the_orm_layer() -> None:
    offenders = []
    for entry in CLIENT_MODULES:
        target = PACKAGE / entry
        for path in [target] if target.is_file() else sorted(target.rglob("*.py")):
            for name in _module_level_imports(path):
                parts = set(name.lstrip(".").split("."))
                if name.startswith("django.db") or (name.startswith(".") and parts & ORM_MODULES):
                    offenders.append(f"{path.relative_to(PACKAGE)}: {name}")
    assert offenders == []


def test_importing_the_package_needs_no_settings_or_app_registry() -> None:
    code = (
        "import vectra_django, sys; "
        "from vectra_django import Client; "
        "c = Client(provider='memory'); c.create_index('x', dimension=2); "
        "assert 'vectra_django.fields' not in sys.modules; print('ok')"
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
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        vectra_django.Nope  # noqa: B018
