"""Run by the outbox tests in a child process on the test database, to die mid-way.

``python -m tests.outbox_child ACTION [ARG]`` with ``VECTRA_CHILD_DB`` holding the parent's
``DATABASES["default"]`` as JSON and ``VECTRA_CHILD_SYNC`` the sync strategy. Actions:
``create TITLE`` and ``delete PK`` commit their write and are killed (SIGKILL) right after
the commit, before any sync; ``worker`` runs ``vectra_sync --forever``.
"""

from __future__ import annotations

import json
import os
import signal
import sys

os.environ["DATABASE_URL"] = "postgres://unused@localhost/unused"  # no embedded server here
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django
from django.conf import settings


def main(action: str, arg: str = "") -> None:
    settings.DATABASES = {"default": json.loads(os.environ["VECTRA_CHILD_DB"])}
    settings.VECTRA_SYNC = os.environ.get("VECTRA_CHILD_SYNC", "on_commit")
    django.setup()
    from django.core.management import call_command
    from django.db import transaction

    from tests.testapp.models import RemoteDocument

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    if action == "worker":
        call_command("vectra_sync", "--forever", "--interval", "0.05")
        return
    with transaction.atomic():
        transaction.on_commit(die)  # first in line: runs before the sync's own callback
        if action == "create":
            RemoteDocument.objects.create(title=arg, embedding=[0.0, 0.0, 1.0])
        elif action == "delete":
            RemoteDocument.objects.filter(pk=int(arg)).delete()
        else:
            raise SystemExit(f"unknown action {action!r}")


if __name__ == "__main__":
    main(*sys.argv[1:])
