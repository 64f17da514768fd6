"""The provider-specific next steps the command prints after installing."""

from __future__ import annotations

from .templates import API_KEY_VARIABLES, Options

_EXTRAS = {"pinecone": "pinecone", "qdrant": "qdrant"}

# Per remote provider: the variables to set besides the API key.
_OTHER_VARIABLES = {
    "pinecone": "PINECONE_HOST only for a control plane other than Pinecone's",
    "qdrant": "QDRANT_URL (default http://localhost:6333)",
}


def next_steps(
    options: Options, *, migration: str | None, api_key_written: bool, has_settings: bool
) -> list[str]:
    """Numbered steps, one string each, in the order the user should take them."""
    steps: list[str] = []
    provider = options.provider
    if not has_settings:
        steps.append("Paste the block printed above at the end of your settings.")
    if provider in _EXTRAS:
        steps.append(
            f'Install the client library: pip install "vectra-django[{_EXTRAS[provider]}]"'
        )
    if provider == "pgvector":
        steps.append(
            'Point DATABASES["default"] at PostgreSQL with pgvector, for example '
            'DATABASES = {"default": env.db("DATABASE_URL")} and '
            "DATABASE_URL=postgres://user:password@host:5432/dbname in the environment or .env."
        )
        if migration:
            steps.append(
                f"Run 'python manage.py migrate' to apply {migration} (CREATE EXTENSION vector)."
            )
    elif provider == "memory":
        steps.append(
            "Vectors live in this process's memory and vanish on restart: use the memory "
            "provider for tests and development."
        )
    else:
        key = API_KEY_VARIABLES[provider]
        if api_key_written:
            steps.append(
                f"{key} is in .env. Also set, in the environment or .env: "
                f"{_OTHER_VARIABLES[provider]}."
            )
        else:
            steps.append(
                f"Set {key} in the environment or .env; also {_OTHER_VARIABLES[provider]}."
            )
    if options.instrumentation:
        steps.append(
            "Uncomment the New Relic or Datadog line in vectra_settings.py to report operations."
        )
    index = options.index or "documents"
    steps.append(
        "Add a vector field to a model: class Document(VectorMixin, models.Model): "
        f'embedding = VectorField(dimensions=384, index="{index}"), '
        "then run 'python manage.py makemigrations' and 'python manage.py migrate'."
    )
    steps.append("Index existing rows: python manage.py vectra_reindex")
    steps.append("Search: Document.objects.vector_search(vec, limit=10)")
    return [f"{n}. {text}" for n, text in enumerate(steps, 1)]
