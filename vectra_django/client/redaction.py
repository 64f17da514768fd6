"""Keeping secrets out of log lines and error messages: the one place that masks them."""

from __future__ import annotations

import re

_SECRET_KEYS = r"password|passwd|pwd|api[_-]?key|apikey|access[_-]?token|token|secret"
_SECRET_PATTERNS = (
    # HTTP headers: Authorization: Bearer xyz, and a bare "Bearer xyz"
    (
        re.compile(r"(?i)\b(authorization\s*[=:]\s*(?:(?:bearer|basic|token)\s+)?)[^\s,;'\"]+"),
        r"\1***",
    ),
    (re.compile(r"(?i)\b((?:bearer|basic)\s+)(?!\*\*\*)[A-Za-z0-9._~+/=-]+"), r"\1***"),
    # libpq conninfo, query strings, headers: password=xyz, password='x y', api_key=xyz&...
    (
        re.compile(
            rf"(?i)\b((?:{_SECRET_KEYS})\s*[=:]\s*)('(?:[^'\\]|\\.)*'|\"[^\"]*\"|[^\s&;,'\"]+)"
        ),
        r"\1***",
    ),
    # URLs with credentials: scheme://user:password@host
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@"), r"\1***@"),
)


def redact(text: str, secret: str | None = None) -> str:
    """``text`` with passwords, API keys and tokens replaced by ``***``, and ``secret`` (a
    key the caller holds, at least four characters) wherever it appears."""
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def describe_error(exc: BaseException | None) -> str:
    """``Type: message`` on one line, redacted, for log lines."""
    if exc is None:
        return "no error"
    message = " ".join(str(exc).split())
    name = type(exc).__name__
    return redact(f"{name}: {message}" if message else name)
