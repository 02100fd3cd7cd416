"""Per-run secrets and their redaction.

Tokens are generated fresh for every run and registered here the moment they exist, so any
text that leaves the process (logs, reports, diagnostics, error messages) can be scrubbed
of every secret the run knows, including ones read from an existing target's config.
"""

from __future__ import annotations

import re
import secrets as _secrets
import threading

REDACTED = "[REDACTED]"
_MIN_LEN = 6

_lock = threading.Lock()
_known: set[str] = set()
_pattern: re.Pattern[str] | None = None

# Token-looking values in URLs and headers are scrubbed even when not registered, because
# a component may log a token the harness never saw (e.g. the hub's own cookie secret).
# So are environment variables named like a credential, as a server that logs its environment
# writes them (a user server logged JUPYTERHUB_API_TOKEN, which the hub made, in clear).
_GENERIC = re.compile(
    r"(?i)((?:[?&]token=)|(?:authorization:\s*(?:token|bearer)\s+)|(?:auth_token['\"]?\s*[:=]\s*['\"]?)"
    r"|(?:\b[A-Z0-9_]*(?:TOKEN|SECRET|PASSWORD|API_KEY)['\"]?\s*[:=]\s*['\"]?))"
    r"([A-Za-z0-9._~+/=%-]{8,})"
)


def new_token() -> str:
    token = _secrets.token_hex(24)
    register(token)
    return token


def register(*values: str | None) -> None:
    global _pattern
    with _lock:
        for v in values:
            if v and len(v) >= _MIN_LEN:
                _known.add(v)
        if _known:
            alts = sorted((re.escape(s) for s in _known), key=len, reverse=True)
            _pattern = re.compile("|".join(alts))


def known() -> list[str]:
    with _lock:
        return sorted(_known)


def redact(text: str) -> str:
    if not text:
        return text
    pat = _pattern
    if pat is not None:
        text = pat.sub(REDACTED, text)
    return _GENERIC.sub(lambda m: m.group(1) + REDACTED, text)
