"""Find the project's settings file and compute the edits that install the settings module.

The settings go into ``vectra_settings.py`` next to the settings file, and settings.py gets
one marked block at its end that star-imports it (``vectra_settings`` exports only the
``VECTRA*`` names, so nothing else in settings.py is shadowed).
"""

from __future__ import annotations

import ast
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from . import templates
from .templates import BEGIN, END


class LayoutError(Exception):
    """The settings cannot be edited automatically; the message says why."""


@dataclass(frozen=True)
class SettingsFile:
    path: Path
    module: str

    @property
    def vectra_path(self) -> Path:
        return self.path.with_name("vectra_settings.py")

    @property
    def import_target(self) -> str:
        return ".vectra_settings" if "." in self.module else "vectra_settings"


def locate(module: str | None) -> SettingsFile:
    """The editable settings file of ``module`` (``settings.SETTINGS_MODULE``)."""
    if not module:
        raise LayoutError("Settings are configured in code (settings.configure()), not in a module")
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise LayoutError(f"The settings module {module!r} has no Python source file to edit")
    if spec.submodule_search_locations is not None:
        raise LayoutError(
            f"The settings module {module!r} is a package ({spec.origin}), so it is unclear "
            "which of its files to edit"
        )
    path = Path(spec.origin).resolve()
    if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
        raise LayoutError(f"The settings file {path} (or its directory) is not writable")
    return SettingsFile(path, module)


def env_parent(settings: SettingsFile, root: Path) -> int:
    """How many levels above the settings directory the project root (and .env) lies."""
    try:
        return len(settings.path.parent.relative_to(root).parts)
    except ValueError:
        return 1


def split_block(text: str) -> tuple[str, str | None]:
    """``text`` without the marked block, and the block (``None`` when absent)."""
    start = text.find(BEGIN)
    if start == -1:
        return text, None
    end = text.find(END, start)
    if end == -1:
        raise LayoutError(f"The settings file has {BEGIN!r} without {END!r}")
    end = text.find("\n", end)
    end = len(text) if end == -1 else end + 1
    return text[:start] + text[end:], text[start:end]


def with_block(text: str, block: str) -> str:
    """``text`` with the marked block replaced, or appended after one blank line."""
    start = text.find(BEGIN)
    if start != -1:
        _rest, old = split_block(text)
        assert old is not None
        return text[:start] + block + text[start + len(old) :]
    if not text.endswith("\n"):
        text += "\n"
    return f"{text}\n{block}"


def defines_vectra(text: str) -> bool:
    """Whether settings code outside the marked block assigns ``VECTRA`` itself."""
    rest, _block = split_block(text)
    try:
        tree = ast.parse(rest)
    except SyntaxError:
        return False
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign | ast.AugAssign):
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == "VECTRA" for t in targets):
            return True
    return False


def block(settings: SettingsFile) -> str:
    return templates.import_block(settings.import_target)
