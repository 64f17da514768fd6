"""Edits to the project's ``.env`` (read by django-environ) and ``.gitignore``."""

from __future__ import annotations

import re

from django.core.management.base import CommandError

_SAFE_VALUE = re.compile(r"[A-Za-z0-9_.:/+=@-]+")
_IGNORES_ENV = {".env", "/.env", "*.env", ".env*", "/.env*"}


def line(name: str, value: str) -> str:
    """``NAME=value`` as django-environ reads it back unchanged."""
    if _SAFE_VALUE.fullmatch(value):
        return f"{name}={value}"
    if "'" in value or "\n" in value or "\r" in value or not value:
        raise CommandError(
            f"The value for {name} is empty or contains a quote or newline. "
            "Set it in the environment instead of passing --api-key."
        )
    # Single quotes: django-environ takes the text between them literally.
    return f"{name}='{value}'"


def set_variable(text: str | None, name: str, value: str) -> str:
    """``text`` with ``name`` set to ``value``: the first definition updated, others dropped."""
    new_line = line(name, value)
    pattern = re.compile(rf"^\s*(?:export\s+)?{re.escape(name)}\s*=")
    out: list[str] = []
    replaced = False
    for existing in (text or "").splitlines():
        if pattern.match(existing):
            if not replaced:
                out.append(new_line)
                replaced = True
            continue
        out.append(existing)
    if not replaced:
        out.append(new_line)
    return "\n".join(out) + "\n"


def ignores_env(gitignore: str) -> bool:
    """Whether a ``.gitignore`` has a line that keeps the root ``.env`` out of git."""
    return any(raw.strip() in _IGNORES_ENV for raw in gitignore.splitlines())


def ignore_env(gitignore: str) -> str:
    if gitignore and not gitignore.endswith("\n"):
        gitignore += "\n"
    return f"{gitignore}.env\n"
