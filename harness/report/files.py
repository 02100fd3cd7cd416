"""Putting report files on disk so that readers never see half of one: atomic writes, the
``latest`` link, and appends to a CI job summary.

Every writer of report-like files (the report, the release gate's step summary) goes through
here, so a crash mid-write or two steps appending to the same summary behave the same way.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import warnings
from pathlib import Path

from eg_harness import resources


def atomic_write(path: Path, text: str) -> None:
    """Write-then-rename so a crash or a concurrent reader never sees half a report."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def append_step_summary(text: str) -> Path | None:
    """Append markdown to ``$GITHUB_STEP_SUMMARY`` when CI set it; returns the file written.

    Other steps append to the same file; without a blank line our heading would glue onto
    their last line and not render as a heading. A failure only warns: the report itself is
    already on disk, and losing the CI summary must not lose it.
    """
    name = os.environ.get("GITHUB_STEP_SUMMARY")
    if not name:
        return None
    path = Path(name)
    try:
        prefix = ""
        with contextlib.suppress(FileNotFoundError), open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() > 0:
                fh.seek(-1, os.SEEK_END)
                prefix = ("\n" if fh.read(1) != b"\n" else "") + "\n"
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(prefix + text)
    except OSError as exc:
        warnings.warn(f"could not append to GITHUB_STEP_SUMMARY: {exc}", stacklevel=2)
        return None
    return path


def point_latest(run_dir: Path, name: str = "latest", root: Path | None = None) -> Path | None:
    """Swap ``name`` (``latest``, or ``latest-bench``) to this run atomically (symlink aside,
    then rename over) so a reader following it never finds it missing; relative so the
    reports tree can be moved or unpacked elsewhere.

    Only in the reports root the harness owns (``root``, default ``reports_root()``): a run
    given its own ``--report-dir /x/run1`` leaves ``/x`` alone, where a ``latest`` would be a
    link in someone else's folder that the next run elsewhere silently repoints. Returns None
    (no link) for such a run."""
    run_dir = Path(run_dir).resolve()
    owned = Path(root or resources.reports_root()).resolve()
    if run_dir.parent != owned:
        return None
    link = run_dir.parent / name
    tmp = run_dir.parent / f".{name}.{os.getpid()}.{secrets.token_hex(4)}"
    try:
        os.symlink(run_dir.name, tmp)
        os.replace(tmp, link)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        warnings.warn(f"could not point {link} at {run_dir.name}: {exc}", stacklevel=3)
        return None
    return link
