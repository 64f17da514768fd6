"""What ``manage.py vectra_install`` writes, computed as a list of changes before any write.

The command builds :class:`Change` objects with :mod:`.settings_file`, :mod:`.migration` and
:mod:`.dotenv`, shows them (``--dry-run``) or hands them to :func:`apply`. A change whose new
text equals the file's current text is never produced, which is what makes a second run a
no-op.
"""

from __future__ import annotations

import difflib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.core.management.base import CommandError

PROVIDERS = ("pgvector", "pinecone", "qdrant", "memory")

_SECRET_LINE = re.compile(r"^((?:export )?[A-Za-z_][A-Za-z0-9_]*=).*$", re.MULTILINE)


@dataclass(frozen=True)
class Change:
    """One file to create (``old is None``) or rewrite with ``new``."""

    path: Path
    old: str | None
    new: str
    mode: int = 0o644
    secret: bool = False

    @property
    def created(self) -> bool:
        return self.old is None

    def diff(self, root: Path) -> str:
        """A unified diff; values in secret files (``.env``) are masked."""
        name = _relative(self.path, root)
        old, new = self.old or "", self.new
        if self.secret:
            old, new = _mask(old), _mask(new)
        lines = difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile="/dev/null" if self.created else f"a/{name}",
            tofile=f"b/{name}",
        )
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def change(path: Path, new: str, *, mode: int = 0o644, secret: bool = False) -> Change | None:
    """A :class:`Change` for ``path``, or ``None`` when it already holds ``new``."""
    old = read_text(path)
    if old == new:
        return None
    return Change(path, old, new, mode, secret)


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror}. Check its permissions.") from exc


def apply(changes: list[Change]) -> None:
    """Write every change, or none when one of the targets is not writable."""
    for item in changes:
        target = item.path if item.path.exists() else _existing_parent(item.path)
        if not os.access(target, os.W_OK):
            raise CommandError(
                f"{item.path} is not writable, so nothing was written. "
                "Fix the permissions and run the command again."
            )
    for item in changes:
        _write(item)


def _write(item: Change) -> None:
    item.path.parent.mkdir(parents=True, exist_ok=True)
    mode = item.mode if item.created else item.path.stat().st_mode & 0o7777
    # Write beside the target, then rename: a crash never leaves a half-written file, and a
    # new .env is 0600 from its first byte (mkstemp creates files readable by the owner only).
    fd, tmp = tempfile.mkstemp(dir=item.path.parent, prefix=f".{item.path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(item.new)
        os.chmod(tmp, mode)
        os.replace(tmp, item.path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise CommandError(
            f"Cannot write {item.path}: {exc.strerror}. Fix the permissions and run the "
            "command again."
        ) from exc


def _existing_parent(path: Path) -> Path:
    for parent in path.parents:
        if parent.exists():
            return parent
    return Path(path.anchor or ".")


def _mask(text: str) -> str:
    return _SECRET_LINE.sub(r"\1********", text)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
