"""The Django task behind ``VECTRA_SYNC = "task"``.

Uses ``django.tasks`` (Django 6) or the ``django-tasks`` backport (Django 5.2). Imported only
when that strategy runs, since defining a task needs the ``TASKS`` setting.
"""

from __future__ import annotations

from collections import defaultdict

from django.apps import apps

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

from . import ops as sync


@task()
def sync_vectors(upserts: list[list[str]], deletes: list[list[str | None]]) -> dict[str, int]:
    """Upsert the current state of the given rows and delete the given vector ids.

    ``upserts`` holds ``[model label, field name, database, pk]``; rows gone since are
    skipped (their delete is queued by the transaction that removed them). ``deletes`` holds
    ``[alias, index, namespace, vector id]``. Idempotent, so a retried task is harmless.
    """
    ops: list[sync.SyncOp] = []
    wanted: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for label, field_name, using, pk in upserts:
        wanted[(label, using)][pk].add(field_name)
    for (label, using), by_pk in wanted.items():
        model = apps.get_model(label)
        fields = {f.name: f for f in sync.synced_fields(model, using)}
        for obj in model._base_manager.using(using).filter(pk__in=list(by_pk)):
            for name in by_pk[str(obj.pk)]:
                if name in fields:
                    ops.append(sync.plan(fields[name], obj, using))
    for alias, index, namespace, vid in deletes:
        target = sync.Target(str(alias), str(index), namespace, 0, "cosine")
        ops.append(sync.SyncOp("delete", target, str(vid), "", "", None, ""))
    sync.apply(ops)
    return {"upserted": sum(op.action == "upsert" for op in ops), "deleted": len(deletes)}
