"""``clients[alias]``: one :class:`Client` per ``VECTRA`` alias, built on first use.

Modelled on ``django.core.cache.caches``: settings are read lazily, never at import, and a
change of ``VECTRA`` (``override_settings`` in tests) closes and forgets existing clients.
Clients are shared across threads (providers are thread-safe and pool their connections), so
they are not closed at the end of each request.
"""

from __future__ import annotations

from typing import Any

from asgiref.local import Local
from django.core.signals import setting_changed
from django.utils.connection import BaseConnectionHandler, ConnectionProxy

from ..errors import ConfigurationError
from .client import Client

DEFAULT_ALIAS = "default"
DEFAULT_SETTINGS = {DEFAULT_ALIAS: {"PROVIDER": "pgvector", "DATABASE": "default"}}


class ClientHandler(BaseConnectionHandler):
    """The ``clients`` registry: ``clients[alias]`` is that alias's :class:`Client`.

    Built on Django's own connection handler (the one behind ``caches``), so the settings are
    read on first use; an unknown alias or a malformed ``VECTRA`` is a ``ConfigurationError``.
    """

    settings_name = "VECTRA"
    exception_class = ConfigurationError
    thread_critical = False

    def configure_settings(self, settings: dict[str, Any] | None) -> dict[str, Any]:
        """``VECTRA`` checked for shape (a dict of aliases, each with a ``PROVIDER``); without
        the setting, a pgvector ``default`` alias on the ``default`` database."""
        from django.conf import settings as django_settings

        configured = getattr(django_settings, "VECTRA", None) if settings is None else settings
        if configured is None:
            return dict(DEFAULT_SETTINGS)
        if not isinstance(configured, dict):
            raise ConfigurationError("The VECTRA setting must be a dict of aliases.")
        for alias, config in configured.items():
            if not isinstance(config, dict) or "PROVIDER" not in config:
                raise ConfigurationError(f"VECTRA[{alias!r}] must be a dict with a PROVIDER key.")
        return configured

    def create_connection(self, alias: str) -> Client:
        """Build the client of ``alias`` (called once per alias, on first access)."""
        return Client.from_settings(self.settings[alias], alias=alias)

    def __getitem__(self, alias: str) -> Client:
        if alias not in self.settings:
            raise ConfigurationError(
                f"The VECTRA alias {alias!r} doesn't exist; configured: {sorted(self.settings)}."
            )
        return super().__getitem__(alias)  # type: ignore[no-any-return]

    def reset(self) -> None:
        """Close every opened client and re-read the settings on next use."""
        self.close_all()
        self._connections = Local(self.thread_critical)
        self.__dict__.pop("settings", None)
        self._settings = None

    def close_all(self) -> None:
        """Close the clients built so far (their pools and HTTP sessions)."""
        # Only clients already built, and without re-reading settings that may be invalid.
        for alias in self.__dict__.get("settings", {}):
            client = getattr(self._connections, alias, None)
            if client is not None:
                client.close()


clients = ClientHandler()
client: Client = ConnectionProxy(clients, DEFAULT_ALIAS)  # type: ignore[assignment]


def _reset_on_change(*, setting: str, **kwargs: Any) -> None:
    if setting == "VECTRA":
        clients.reset()


setting_changed.connect(_reset_on_change, dispatch_uid="vectra_django.reset_clients")
