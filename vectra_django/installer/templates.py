"""The text the installer writes: the settings module, the settings.py block, the migration."""

from __future__ import annotations

from dataclasses import dataclass

BEGIN = "# vectra_django: begin"
END = "# vectra_django: end"

# Each provider's alias as (key, Python source of the value). Hosts and secrets are read
# from the environment; a missing secret is None so that manage.py keeps working and the
# provider reports it on first use.
_ALIASES: dict[str, list[tuple[str, str]]] = {
    "pgvector": [("PROVIDER", '"pgvector"'), ("DATABASE", '"default"')],
    "pinecone": [
        ("PROVIDER", '"pinecone"'),
        ("API_KEY", 'env.str("PINECONE_API_KEY", default=None)'),
        ("HOST", 'env.str("PINECONE_HOST", default=None)'),
    ],
    "qdrant": [
        ("PROVIDER", '"qdrant"'),
        ("URL", 'env.str("QDRANT_URL", default="http://localhost:6333")'),
        ("API_KEY", 'env.str("QDRANT_API_KEY", default=None)'),
    ],
    "memory": [("PROVIDER", '"memory"')],
}

# The environment variable that --api-key fills for each provider.
API_KEY_VARIABLES = {"pinecone": "PINECONE_API_KEY", "qdrant": "QDRANT_API_KEY"}

_MODULE_DOC = '''"""Vector search settings, written by ``python manage.py vectra_install``.

The project's settings import this module inside their ``# vectra_django`` block. Hosts and
secrets come from the environment or the project's .env file (django-environ) and are never
written here. Edit freely; ``vectra_install --force`` rewrites this file.
"""
'''


@dataclass(frozen=True)
class Options:
    """What the user asked for on the command line."""

    provider: str
    instrumentation: bool = False
    index: str | None = None

    @property
    def reads_environment(self) -> bool:
        return any("env." in source for _key, source in _ALIASES[self.provider])


def settings_body(options: Options, env_file: str) -> str:
    """The settings statements; ``env_file`` is Python source for the .env path."""
    lines: list[str] = []
    if options.reads_environment:
        lines += ["env = environ.Env()", f"environ.Env.read_env({env_file})", ""]
    alias = list(_ALIASES[options.provider])
    if options.index:
        alias.append(("INDEX", f'"{options.index}"'))
    lines.append("VECTRA = {")
    lines.append('    "default": {')
    lines += [f'        "{key}": {source},' for key, source in alias]
    lines += ["    },", "}"]
    lines.append(f"VECTRA_INSTRUMENTATION = {options.instrumentation}")
    if options.instrumentation:
        lines += [
            "# To report every operation to an APM, install the extra",
            "# (pip install newrelic, or pip install datadog ddtrace) and uncomment",
            "# one line here or move it to an AppConfig.ready():",
            "# from vectra_django.instrumentation import newrelic; newrelic.setup()",
            '# from vectra_django.instrumentation import datadog; datadog.setup(host="localhost", port=8125)',  # noqa: E501
        ]
    lines.append('VECTRA_SYNC = "on_commit"')
    return "\n".join(lines) + "\n"


def settings_module(options: Options, env_parent: int) -> str:
    """``vectra_settings.py``; the .env file is ``env_parent`` levels above it."""
    head = [_MODULE_DOC]
    if options.reads_environment:
        head += ["from pathlib import Path", "", "import environ", ""]
    head.append('__all__ = ["VECTRA", "VECTRA_INSTRUMENTATION", "VECTRA_SYNC"]\n')
    env_file = f'Path(__file__).resolve().parents[{env_parent}] / ".env"'
    return "\n".join(head) + "\n" + settings_body(options, env_file)


def import_block(module: str) -> str:
    """The block appended to settings.py; ``module`` is the import target."""
    return (
        f"{BEGIN}\n"
        "# Written by `python manage.py vectra_install`; the settings live in vectra_settings.py.\n"
        f"from {module} import *  # noqa: E402, F403\n"
        f"{END}\n"
    )


def paste_block(options: Options) -> str:
    """A self-contained block for settings the command cannot edit."""
    head = ""
    if options.reads_environment:
        head = "import environ\n\n"
    body = settings_body(options, 'BASE_DIR / ".env"')
    return f"{BEGIN}\n{head}{body}{END}\n"


def migration(dependencies: list[tuple[str, str]]) -> str:
    deps = "".join(f"        ({app!r}, {name!r}),\n" for app, name in dependencies)
    deps_source = f"[\n{deps}    ]" if deps else "[]"
    return (
        '"""Enable the pgvector extension (written by ``python manage.py vectra_install``)."""\n'
        "\n"
        "from django.db import migrations\n"
        "from pgvector.django import VectorExtension\n"
        "\n"
        "\n"
        "class Migration(migrations.Migration):\n"
        f"    dependencies = {deps_source}\n"
        "\n"
        "    operations = [VectorExtension()]\n"
    )
