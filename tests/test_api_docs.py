"""docs/api.md is generated from the docstrings and must match them."""

from __future__ import annotations

import difflib
import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "docs" / "gen_api.py"


def load_generator():
    """docs/ is not a package (it must not be importable once installed): load by path."""
    if "gen_api" not in sys.modules:
        spec = importlib.util.spec_from_file_location("gen_api", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules["gen_api"] = module  # dataclasses look their module up while it runs
        spec.loader.exec_module(module)
    return sys.modules["gen_api"]


def test_api_reference_is_up_to_date():
    expected = load_generator().render()
    current = (ROOT / "docs" / "api.md").read_text()
    diff = "".join(
        difflib.unified_diff(
            current.splitlines(True), expected.splitlines(True), "docs/api.md", "generated", n=1
        )
    )
    assert not diff, f"docs/api.md is out of date: run python docs/gen_api.py\n{diff[:3000]}"


def test_api_reference_covers_the_public_names():
    import vectra_django

    text = (ROOT / "docs" / "api.md").read_text()
    for name in vectra_django.__all__:
        assert f"\n### {name}\n" in text, name
    for heading in ("VectorQuerySet.vector_search", "Client.upsert", "embed_changed"):
        assert heading in text


def test_the_script_checks_without_settings_or_a_database():
    """Run as documented, outside the test settings: it configures Django itself."""
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_signatures_wrap_and_keep_their_markers():
    gen = load_generator()

    def example(a: int, /, b: str = "x", *, c: dict[str, int] | None = None, **rest: object):
        """An example."""

    text = gen.signature("a_rather_long_function_name_for_wrapping", example)
    assert text.splitlines()[1:] == [
        "    a: int,",
        "    /,",
        "    b: str = 'x',",
        "    *,",
        "    c: dict[str, int] | None = None,",
        "    **rest: object,",
        ")",
    ]
    assert gen.markdown(":class:`~a.b.Client` and ``x``::") == "`Client` and `x`:"
