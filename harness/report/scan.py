"""Proof that a report directory leaked no secret the run knows.

It errs towards finding: files are read as bytes (logs need not be valid UTF-8), the HTML- and
JSON-escaped spellings are searched too, and a missing directory raises instead of vacuously
passing.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from markupsafe import escape as jinja_escape

# Shorter secrets match ordinary text and would drown real hits.
MIN_SECRET_LEN = 8


def scan_for_secrets(directory: Path, secrets: Iterable[str]) -> list[tuple[Path, str]]:
    """Files under ``directory`` containing any secret, as ``(path, first four chars + …)``."""
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"not a directory: {root}")
    needles: list[tuple[str, tuple[bytes, ...]]] = []
    seen: set[str] = set()
    for secret in secrets:
        if not isinstance(secret, str) or len(secret) < MIN_SECRET_LEN or secret in seen:
            continue
        seen.add(secret)
        forms = {
            secret.encode("utf-8"),
            html.escape(secret).encode("utf-8"),
            str(jinja_escape(secret)).encode("utf-8"),  # report.html's own escaping
            json.dumps(secret)[1:-1].encode("utf-8"),
            json.dumps(secret, ensure_ascii=False)[1:-1].encode("utf-8"),
        }
        needles.append((secret, tuple(sorted(forms))))
    if not needles:
        return []
    overlap = max(len(f) for _, forms in needles for f in forms) - 1
    hits: list[tuple[Path, str]] = []
    for path in _walk_files(root):
        for secret in _secrets_in_file(path, needles, overlap):
            hits.append((path, secret[:4] + "…"))
    return hits


def _walk_files(root: Path) -> Iterator[Path]:
    # Symlinked directories are not followed: they can loop, and they lead outside the tree
    # being checked. Only regular files are read (a FIFO would block forever).
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_file():
                yield path


def _secrets_in_file(
    path: Path, needles: Sequence[tuple[str, tuple[bytes, ...]]], overlap: int
) -> list[str]:
    """Stream the file in chunks, keeping an overlap so a secret split across two chunks is
    still found, without loading a multi-GB log into memory."""
    remaining = list(needles)
    found: list[str] = []
    tail = b""
    with open(path, "rb") as fh:
        while remaining:
            chunk = fh.read(1 << 20)
            if not chunk:
                break
            buf = tail + chunk
            still = []
            for secret, forms in remaining:
                if any(f in buf for f in forms):
                    found.append(secret)
                else:
                    still.append((secret, forms))
            remaining = still
            tail = buf[-overlap:] if overlap > 0 else b""
    order = {s: i for i, (s, _) in enumerate(needles)}
    return sorted(found, key=order.__getitem__)
