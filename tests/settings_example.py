"""The test settings plus the example project's documents app.

For running the example's tests alone: ``pytest --ds=tests.settings_example
tests/test_example_views.py tests/test_demo.py tests/test_browser.py``.
"""

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "example_project.documents"]
# The live server's static files handler needs a STATIC_URL (tests.settings has none).
STATIC_URL = "static/"
