"""``manage.py vectra_install`` run in a throwaway ``startproject`` site, in a subprocess.

Each test copies one generated project, runs the command as a user would (cwd = the
project, vectra_django importable from this checkout) and, where it matters, runs
``check`` and ``migrate`` against a fresh database on the test PostgreSQL server.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.conf import settings
from psycopg import sql

REPO = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-Key_0123456789"

SETTINGS_TAIL = """
# Added by the test: vectra_django, one app, and the test database.
import json
import os

INSTALLED_APPS += ["vectra_django", "shop"]
DATABASES = {"default": json.loads(os.environ["INSTALL_TEST_DATABASE"])}
"""

SHOW_SETTINGS = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({k: getattr(s, k, None) for k in "
    "('VECTRA', 'VECTRA_INSTRUMENTATION', 'VECTRA_SYNC')}))"
)


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _server() -> dict[str, str]:
    db = settings.DATABASES["default"]
    return {k: db.get(k) or "" for k in ("HOST", "PORT", "USER", "PASSWORD")}


def _connect(dbname: str) -> psycopg.Connection:
    s = _server()
    return psycopg.connect(
        host=s["HOST"] or None,
        port=s["PORT"] or None,
        user=s["USER"] or None,
        password=s["PASSWORD"] or None,
        dbname=dbname,
        autocommit=True,
    )


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``django-admin startproject proj`` plus ``startapp shop``, generated once per module."""
    root = tmp_path_factory.mktemp("template")
    env = _base_env()
    for args in (["startproject", "proj", "."], ["startapp", "shop"]):
        done = _run([sys.executable, "-m", "django", *args], root, env)
        assert done.returncode == 0, done.stderr
    with (root / "proj" / "settings.py").open("a") as fh:
        fh.write(SETTINGS_TAIL)
    return root


def _base_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL"}
        and not k.startswith(("PINECONE_", "QDRANT_"))
    }
    env["PYTHONPATH"] = str(REPO)
    return env


@dataclass
class Site:
    root: Path
    env: dict[str, str]

    @property
    def settings_py(self) -> Path:
        return self.root / "proj" / "settings.py"

    @property
    def vectra_settings(self) -> Path:
        return self.root / "proj" / "vectra_settings.py"

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _run([sys.executable, "manage.py", *args], self.root, self.env)

    def install(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.manage("vectra_install", *args)

    def loaded_settings(self) -> dict:
        env = {**self.env, "DJANGO_SETTINGS_MODULE": "proj.settings"}
        done = _run([sys.executable, "-c", SHOW_SETTINGS], self.root, env)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    def snapshot(self) -> dict[str, bytes]:
        return {
            str(p.relative_to(self.root)): p.read_bytes()
            for p in sorted(self.root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts
        }


@pytest.fixture
def database() -> str:
    """A fresh database on the test server, dropped afterwards."""
    name = f"vectra_install_{uuid.uuid4().hex[:12]}"
    with _connect("postgres") as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield name
    with _connect("postgres") as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def site(template: Path, tmp_path: Path) -> Site:
    root = tmp_path / "site"
    shutil.copytree(template, root)
    server = _server()
    config = {"ENGINE": "django.db.backends.postgresql", "NAME": "unused", **server}
    env = {**_base_env(), "INSTALL_TEST_DATABASE": json.dumps(config)}
    return Site(root, env)


def _use_database(site: Site, name: str) -> None:
    config = json.loads(site.env["INSTALL_TEST_DATABASE"])
    site.env["INSTALL_TEST_DATABASE"] = json.dumps({**config, "NAME": name})


def _on_sqlite(site: Site) -> None:
    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(site.root / "db.sqlite3")}
    site.env["INSTALL_TEST_DATABASE"] = json.dumps(sqlite)


def _database_url(dbname: str) -> str:
    s = {k: quote(v, safe="/") for k, v in _server().items()}
    if not s["HOST"] or s["HOST"].startswith("/"):  # a Unix socket directory
        return f"postgres://{s['USER'] or 'postgres'}@/{dbname}?host={s['HOST']}"
    password = f":{s['PASSWORD']}" if s["PASSWORD"] else ""
    return f"postgres://{s['USER']}{password}@{s['HOST']}:{s['PORT'] or 5432}/{dbname}"


def _extensions(dbname: str) -> set[str]:
    with _connect(dbname) as conn:
        return {row[0] for row in conn.execute("SELECT extname FROM pg_extension")}


PROVIDER_ARGS = {
    "pgvector": ["--provider=pgvector", "--app=shop"],
    "pinecone": ["--provider=pinecone"],
    "qdrant": ["--provider=qdrant"],
    "memory": ["--provider=memory"],
}


@pytest.mark.parametrize("provider", list(PROVIDER_ARGS))
def test_install_then_check_and_migrate_on_postgresql(site: Site, database: str, provider: str):
    _use_database(site, database)

    done = site.install(*PROVIDER_ARGS[provider])
    assert done.returncode == 0, done.stderr
    assert "Created proj/vectra_settings.py" in done.stdout
    assert "Next steps:" in done.stdout
    assert "python manage.py vectra_reindex" in done.stdout

    checked = site.manage("check")
    assert checked.returncode == 0, checked.stderr
    migrated = site.manage("migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr

    loaded = site.loaded_settings()
    assert loaded["VECTRA"]["default"]["PROVIDER"] == provider
    assert loaded["VECTRA_INSTRUMENTATION"] is False
    assert loaded["VECTRA_SYNC"] == "on_commit"
    if provider == "pgvector":
        assert loaded["VECTRA"]["default"] == {"PROVIDER": "pgvector", "DATABASE": "default"}
        assert "shop.0001_vector_extension" in migrated.stdout
        assert "vector" in _extensions(database)
    else:
        assert not (site.root / "shop" / "migrations" / "0001_vector_extension.py").exists()
        assert "vector" not in _extensions(database)


def test_install_remote_provider_reads_hosts_from_environment(site: Site):
    site.env.update(QDRANT_URL="https://qdrant.example:6333", QDRANT_API_KEY="from-env")
    assert site.install("--provider=qdrant").returncode == 0

    alias = site.loaded_settings()["VECTRA"]["default"]

    assert alias == {
        "PROVIDER": "qdrant",
        "URL": "https://qdrant.example:6333",
        "API_KEY": "from-env",
    }
    assert "from-env" not in site.vectra_settings.read_text()


def test_second_run_changes_nothing(site: Site):
    assert site.install("--provider=pgvector", "--app=shop").returncode == 0
    before = site.snapshot()

    again = site.install("--provider=pgvector", "--app=shop")

    assert again.returncode == 0, again.stderr
    assert "Nothing to do" in again.stdout
    assert "Created" not in again.stdout and "Updated" not in again.stdout
    assert site.snapshot() == before


def test_verbosity_zero_prints_nothing(site: Site):
    done = site.install("--provider=memory", "--verbosity=0")

    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert site.vectra_settings.exists()


def test_dry_run_writes_nothing_and_shows_the_diff(site: Site):
    before = site.snapshot()

    done = site.install("--provider=pinecone", f"--api-key={SECRET}", "--dry-run")

    assert done.returncode == 0, done.stderr
    assert site.snapshot() == before
    assert "Would create proj/vectra_settings.py" in done.stdout
    assert "Would update proj/settings.py" in done.stdout
    assert "Would create .env" in done.stdout
    assert '+        "PROVIDER": "pinecone",' in done.stdout
    assert "+from .vectra_settings import *" in done.stdout
    assert "Dry run: nothing was written." in done.stdout
    assert SECRET not in done.stdout + done.stderr


def test_api_key_goes_to_env_file_only(site: Site):
    (site.root / ".gitignore").write_text("*.pyc\n")

    done = site.install("--provider=pinecone", f"--api-key={SECRET}")

    assert done.returncode == 0, done.stderr
    env_file = site.root / ".env"
    assert env_file.read_text() == f"PINECONE_API_KEY={SECRET}\n"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    holding = [name for name, data in site.snapshot().items() if SECRET.encode() in data]
    assert holding == [".env"]
    assert (site.root / ".gitignore").read_text() == "*.pyc\n.env\n"
    assert "keep it out of version control (added to .gitignore)" in done.stdout
    assert site.loaded_settings()["VECTRA"]["default"]["API_KEY"] == SECRET


def test_api_key_updates_existing_env_line(site: Site):
    env_file = site.root / ".env"
    env_file.write_text("DEBUG=1\nQDRANT_API_KEY=old\nSECRET_KEY=x\n")
    env_file.chmod(0o640)

    done = site.install("--provider=qdrant", "--api-key=new-key")

    assert done.returncode == 0, done.stderr
    assert env_file.read_text() == "DEBUG=1\nQDRANT_API_KEY=new-key\nSECRET_KEY=x\n"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o640
    again = site.install("--provider=qdrant", "--api-key=new-key")
    assert "Nothing to do" in again.stdout


def test_different_configuration_is_kept_unless_force(site: Site):
    assert site.install("--provider=memory").returncode == 0
    before = site.snapshot()

    refused = site.install("--provider=qdrant", "--instrumentation")

    assert refused.returncode == 1
    assert "holds a different configuration" in refused.stderr
    assert "--force" in refused.stderr
    assert site.snapshot() == before

    forced = site.install("--provider=qdrant", "--instrumentation", "--force")

    assert forced.returncode == 0, forced.stderr
    loaded = site.loaded_settings()
    assert loaded["VECTRA"]["default"]["PROVIDER"] == "qdrant"
    assert loaded["VECTRA_INSTRUMENTATION"] is True
    assert site.settings_py.read_text().count("# vectra_django: begin") == 1


def test_vectra_assigned_in_settings_needs_force(site: Site):
    with site.settings_py.open("a") as fh:
        fh.write('VECTRA = {"default": {"PROVIDER": "memory"}}\n')
    before = site.snapshot()

    refused = site.install("--provider=pinecone")

    assert refused.returncode == 1
    assert "assigns VECTRA itself" in refused.stderr
    assert site.snapshot() == before
    forced = site.install("--provider=pinecone", "--force")
    assert forced.returncode == 0, forced.stderr
    assert site.loaded_settings()["VECTRA"]["default"]["PROVIDER"] == "pinecone"


def test_instrumentation_and_index(site: Site):
    done = site.install("--provider=memory", "--instrumentation", "--index=docs")

    assert done.returncode == 0, done.stderr
    loaded = site.loaded_settings()
    assert loaded["VECTRA"]["default"] == {"PROVIDER": "memory", "INDEX": "docs"}
    assert loaded["VECTRA_INSTRUMENTATION"] is True
    text = site.vectra_settings.read_text()
    assert "# from vectra_django.instrumentation import newrelic; newrelic.setup()" in text
    assert "# from vectra_django.instrumentation import datadog; datadog.setup(" in text


def test_migration_depends_on_latest_and_is_reversible(site: Site, database: str):
    _use_database(site, database)
    (site.root / "shop" / "models.py").write_text(
        "from django.db import models\n\n\nclass Item(models.Model):\n"
        "    name = models.CharField(max_length=20)\n"
    )
    assert site.manage("makemigrations", "shop").returncode == 0

    done = site.install("--provider=pgvector", "--app=shop")

    assert done.returncode == 0, done.stderr
    written = site.root / "shop" / "migrations" / "0002_vector_extension.py"
    assert "('shop', '0001_initial')" in written.read_text()
    assert site.manage("migrate", "--noinput").returncode == 0
    assert "vector" in _extensions(database)
    back = site.manage("migrate", "shop", "0001", "--noinput")
    assert back.returncode == 0, back.stderr
    assert "vector" not in _extensions(database)


def test_existing_extension_migration_is_not_duplicated(site: Site):
    (site.root / "shop" / "migrations" / "0001_pgvector.py").write_text(
        "from django.db import migrations\nfrom pgvector.django import VectorExtension\n\n\n"
        "class Migration(migrations.Migration):\n    operations = [VectorExtension()]\n"
    )

    done = site.install("--provider=pgvector", "--app=shop")

    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (site.root / "shop" / "migrations").glob("0*.py")) == [
        "0001_pgvector.py"
    ]
    assert "shop.0001_pgvector" in done.stdout


def test_settings_package_gets_a_block_to_paste(site: Site):
    package = site.root / "proj" / "settings"
    package.mkdir()
    site.settings_py.rename(package / "__init__.py")
    before = site.snapshot()

    done = site.install("--provider=memory")

    assert done.returncode == 1
    assert "is a package" in done.stderr
    assert "Paste the block" in done.stderr
    assert site.snapshot() == before
    block = done.stdout[done.stdout.index("# vectra_django: begin") :]
    block = block[: block.index("# vectra_django: end")]
    with (package / "__init__.py").open("a") as fh:
        fh.write(block)
    assert site.manage("check").returncode == 0
    assert site.loaded_settings()["VECTRA"] == {"default": {"PROVIDER": "memory"}}


@pytest.mark.skipif(
    os.geteuid() == 0, reason="root writes to 0444 files; the package-layout test covers the path"
)
def test_unwritable_settings_file_is_reported(site: Site):
    site.settings_py.chmod(0o444)
    before = site.snapshot()

    done = site.install("--provider=memory")

    assert done.returncode == 1
    assert "not writable" in done.stderr
    assert "VECTRA = {" in done.stdout
    assert site.snapshot() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--provider=pgvector"], "Rerun with --app <app_label>"),
        (["--provider=pgvector", "--app=nosuchapp"], "no installed app with label 'nosuchapp'"),
        (["--provider=elastic"], "invalid choice: 'elastic'"),
        (["--provider=memory", "--api-key=x"], "memory takes no API key"),
        (["--provider=memory", "--index=Bad Name"], "Invalid index name"),
        (["--provider=memory", "--app=shop"], "--app is only used with --provider=pgvector"),
    ],
)
def test_bad_arguments_fail_without_writing(site: Site, args: list[str], message: str):
    before = site.snapshot()

    done = site.install(*args)

    assert done.returncode != 0
    assert message in done.stderr
    assert site.snapshot() == before


def test_next_steps_database_code_pastes_as_is_on_sqlite(site: Site, database: str):
    _on_sqlite(site)  # what startproject gives
    done = site.install("--provider=pgvector", "--app=shop")
    assert done.returncode == 0, done.stderr
    assert "the database 'default' is sqlite" in done.stdout
    code = [line[7:] for line in done.stdout.splitlines() if line.startswith(" " * 7)]
    assert any(line.startswith("DATABASES = ") for line in code), done.stdout

    with site.settings_py.open("a") as fh:
        fh.write("\n".join(code) + "\n")
    site.env["DATABASE_URL"] = _database_url(database)
    migrated = site.manage("migrate", "--noinput")

    assert migrated.returncode == 0, migrated.stderr
    assert "vector" in _extensions(database)


def test_next_steps_are_not_repeated_once_everything_is_set_up(site: Site, database: str):
    _use_database(site, database)
    assert site.install("--provider=pgvector", "--app=shop").returncode == 0
    (site.root / "shop" / "models.py").write_text(
        "from django.db import models\nfrom vectra_django import VectorField, VectorMixin\n\n\n"
        "class Item(VectorMixin, models.Model):\n    embedding = VectorField(dimensions=3)\n"
    )
    assert site.manage("makemigrations", "shop").returncode == 0
    halfway = site.install("--provider=pgvector", "--app=shop")
    assert "shop.Item.embedding has no column yet" in halfway.stdout
    assert "Add a vector field" not in halfway.stdout
    assert site.manage("migrate", "--noinput").returncode == 0

    again = site.install("--provider=pgvector", "--app=shop")

    assert again.returncode == 0, again.stderr
    assert "Nothing to do: already installed." in again.stdout
    assert "Next steps" not in again.stdout
    assert "Set up: shop.Item.embedding can be searched." in again.stdout
