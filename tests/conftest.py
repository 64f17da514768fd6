from __future__ import annotations

import pytest

from vectra_django import embedded
from vectra_django.instrumentation import clear_handlers


def pytest_unconfigure(config: pytest.Config) -> None:
    embedded.stop()


@pytest.fixture(autouse=True)
def _no_leftover_handlers():
    yield
    clear_handlers()
