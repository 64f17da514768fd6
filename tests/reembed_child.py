"""Run by the re-embed tests in a child process on the test database, to be killed mid-way.

``python -m tests.reembed_child ARGS...`` runs ``vectra_reembed ARGS`` with
``VECTRA_CHILD_DB`` holding the parent's ``DATABASES["default"]`` as JSON.
"""

from __future__ import annotations

import json
import os
import sys

os.environ["DATABASE_URL"] = "postgres://unused@localhost/unused"  # no embedded server here
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django
from django.conf import settings


def main(args: list[str]) -> None:
    settings.DATABASES = {"default": json.loads(os.environ["VECTRA_CHILD_DB"])}
    django.setup()
    from django.core.management import call_command

    call_command("vectra_reembed", *args)


if __name__ == "__main__":
    main(sys.argv[1:])
