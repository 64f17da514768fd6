"""The package as a user installs it: a wheel built from this checkout, in a fresh venv.

README's "Use it in your project" says how (the package is not on an index yet); these tests
run those steps: build the wheel with pip, install it with extras into a new virtual
environment and import it there, with every file the package ships.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "vectra_django"
# What a build reads; copied so that building leaves no build/ folder in the checkout.
BUILD_INPUTS = ["pyproject.toml", "README.md", "LICENSE", "vectra_django"]
INSTALL_DOCS = ["README.md", "docs/getting-started.md", "docs/installation.md"]
# `pip install vectra-django`, with or without extras, but not `... @ file://<clone>`.
FROM_AN_INDEX = re.compile(r"pip install +[\"']?vectra-django(?:\[[^\]]*\])?[\"']?(?=\s|$)")

pytestmark = pytest.mark.slow

PROBE = """
import json, pathlib, django, vectra_django
from django.conf import settings
from django.core.management import get_commands

settings.configure(INSTALLED_APPS=["vectra_django"])
django.setup()
from vectra_django import Client

client = Client(provider="memory")
client.create_index("probe", dimension=2)
root = pathlib.Path(vectra_django.__file__).parent
print(json.dumps({
    "file": vectra_django.__file__,
    "files": sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    ),
    "commands": sorted(c for c, app in get_commands().items() if app == "vectra_django"),
}))
"""


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("COVERAGE_", "PYTHON", "DJANGO_", "VIRTUAL_ENV"))
    }
    return subprocess.run(
        args, capture_output=True, text=True, timeout=300, check=False, env=env, **kwargs
    )


def shipped() -> set[str]:
    """Every file of the package in the checkout, relative to it: modules, migrations,
    ``py.typed`` and any templates or static files."""
    return {
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel README's ``pip wheel --no-deps <clone> -w dist`` builds."""
    source = tmp_path_factory.mktemp("clone")
    for name in BUILD_INPUTS:
        if (REPO / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(REPO / name, source / name, ignore=ignore)
        else:
            shutil.copy2(REPO / name, source / name)
    dist = tmp_path_factory.mktemp("dist")
    done = run([sys.executable, "-m", "pip", "wheel", "--no-deps", str(source), "-w", str(dist)])
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = dist.glob("vectra_django-*.whl")
    return built


def test_the_wheel_holds_the_package_whole_and_nothing_else(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()

    tops = {name.split("/")[0] for name in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"vectra_django"}
    packaged = {n.removeprefix("vectra_django/") for n in names if n.startswith("vectra_django/")}
    assert packaged == shipped()


def test_the_wheel_installs_with_extras_into_a_fresh_venv_and_imports(wheel: Path, tmp_path: Path):
    venv = tmp_path / "venv"
    assert run([sys.executable, "-m", "venv", str(venv)]).returncode == 0
    python = str(venv / "bin" / "python")
    purelib = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    # The wheel first, alone: later this environment's own vectra_django is in sight (not
    # editable under tox), and pip would take it for the wheel already installed.
    alone = run([python, "-m", "pip", "install", "--no-index", "--no-deps", str(wheel)])
    assert alone.returncode == 0, alone.stdout + alone.stderr
    # The dependencies come from this environment, as the machine may reach no index. A .pth
    # line adds that directory after the venv's own, so vectra_django can only be the wheel's.
    Path(purelib.stdout.strip(), "_dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n"
    )

    installed = run([python, "-m", "pip", "install", "--no-index", f"{wheel}[pinecone,qdrant]"])

    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert "does not provide the extra" not in installed.stdout + installed.stderr
    probe = run([python, "-c", PROBE], cwd=tmp_path)
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout.strip().splitlines()[-1])
    assert Path(found["file"]).is_relative_to(venv)
    assert set(found["files"]) == shipped()
    assert {"vectra_install", "vectra_reindex", "vectra_sync"} <= set(found["commands"])


@pytest.mark.parametrize("doc", INSTALL_DOCS)
def test_install_instructions_name_a_source_that_exists(doc: str):
    """``pip install vectra-django`` finds nothing on any index yet: the docs install from a
    clone or a wheel built from one."""
    text = (REPO / doc).read_text()

    from_an_index = re.findall(
        r"pip install +[\"']?vectra-django(?:\[[^\]]*\])?[\"']?(?=\s|$)", text
    )

    assert from_an_index == []
    assert "pip wheel --no-deps" in text or "installation.md" in text


def model_example(doc: str) -> str:
    """The first Python block of ``doc`` that declares the ``Document`` model."""
    blocks = re.findall(r"```python\n(.*?)```", (REPO / doc).read_text(), re.DOTALL)
    return next(block for block in blocks if "class Document(VectorMixin" in block)


def test_readme_and_getting_started_declare_the_same_model():
    assert model_example("README.md") == model_example("docs/getting-started.md")


@pytest.mark.parametrize("doc", ["README.md", "docs/getting-started.md"])
def test_the_embedded_servers_data_directory_is_kept_out_of_git(doc: str):
    text = (REPO / doc).read_text()

    assert re.search(r"\.pgdata/?`?[^\n]*\n?[^\n]*\.gitignore", text), doc
