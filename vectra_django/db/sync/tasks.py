"""The Django task behind ``VECTRA_SYNC = "task"``.

Uses ``django.tasks`` (Django 6) or the ``django-tasks`` backport (Django 5.2). Imported only
when that strategy runs, since defining a task needs the ``TASKS`` setting.
"""

from __future__ import annotations

try:
    from django.tasks import task
except ImportError:  # Django < 6: the backport
    try:
        from django_tasks import task
    except ImportError as exc:  # pragma: no cover - depends on the environment
        from ...errors import ConfigurationError

        raise ConfigurationError(
            'VECTRA_SYNC = "task" needs Django 6 or the backport: pip install django-tasks.'
        ) from exc

from .drain import drain, options


@task()
def drain_outbox(using: str, ids: list[int]) -> dict[str, int]:
    """Drain the outbox entries ``ids`` on the database ``using`` (plus entries left behind
    by others for ``RECOVER_AFTER`` seconds). Entries are only removed once their rows'
    state is written, so a task that fails or is retried loses and duplicates nothing; a
    store error leaves them for a later drain, with backoff."""
    result = drain(using, ids, recover_after=options()["RECOVER_AFTER"])
    return {
        "entries": result.entries,
        "upserted": result.upserted,
        "deleted": result.deleted,
        "failed": result.failed,
    }
