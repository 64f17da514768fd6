"""``clients[alias]``: one :class:`Client` per ``VECTRA`` alias and process, built on first use.

Modelled on ``django.core.cache.caches``: settings are read lazily, never at import, and a
change of ``VECTRA`` (``override_settings`` in tests) closes and forgets existing clients.

Unlike Django's connections, clients are not per thread: every thread and async task of a
process gets the same client, built once under a lock. Some stores only exist once per
process (the memory store, Qdrant's ``:memory:``) and a Qdrant ``path=`` folder can be opened
by one client only; providers are thread-safe and pool their connections. Clients are
therefore not closed at the end of each request.
"""

from __future__ import annotations

import threading
from typing import Any

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
    The built clients live in one dict shared by all threads instead of the handler's
    per-thread storage.
    """

    settings_name = "VECTRA"
    exception_class = ConfigurationError

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        # No super().__init__(): its per-thread storage is what this class replaces.
        self._settings = settings
        self._clients: dict[str, Client] = {}
        # Reentrant: a provider built for one alias may itself look up another.
        self._lock = threading.RLock()

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
        client = self._clients.get(alias)
        if client is None:
            with self._lock:
                # Checked again: threads racing on first use must build one client, not two.
                client = self._clients.get(alias)
                if client is None:
                    client = self._clients[alias] = self.create_connection(alias)
        return client

    def __setitem__(self, alias: str, client: Client) -> None:
        with self._lock:
            self._clients[alias] = client

    def __delitem__(self, alias: str) -> None:
        with self._lock:
            del self._clients[alias]

    def all(self, initialized_only: bool = False) -> list[Client]:
        """The client of every alias; with ``initialized_only``, only those built so far."""
        if initialized_only:
            with self._lock:
                return list(self._clients.values())
        return [self[alias] for alias in self]

    def reset(self) -> None:
        """Close and forget every built client, and re-read the settings on next use."""
        with self._lock:
            built, self._clients = self._clients, {}
            self.__dict__.pop("settings", None)
            self._settings = None
            # Still under the lock: no new client may open a Qdrant folder the old one holds.
            for client in built.values():
                client.close()

    def close_all(self) -> None:
        """Close the clients built so far (their pools and HTTP sessions); they reopen on use."""
        # Only clients already built, and without re-reading settings that may be invalid.
        with self._lock:
            for client in self._clients.values():
                client.close()


clients = ClientHandler()
client: Client = ConnectionProxy(clients, DEFAULT_ALIAS)  # type: ignore[assignment]


def _reset_on_change(*, setting: str, **kwargs: Any) -> None:
    if setting == "VECTRA":
        clients.reset()


setting_changed.connect(_reset_on_change, dispatch_uid="vectra_django.reset_clients")
