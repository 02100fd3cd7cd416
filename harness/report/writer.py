"""Turn one run's results into the files people and CI read: results.json, summary.md,
report.html (plus the ``latest`` link and the CI step summary).

No pytest import on purpose: a report can be re-rendered from a saved ``results.json`` long
after the run (``eg-harness report``), and a broken plugin cannot take reporting down with it.

Every file is written through the caller's ``redact`` function, because reports are exactly
the artifacts that get uploaded and shared, and the messages they quote come from servers
that may echo tokens back.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eg_harness.report import openmetrics
from eg_harness.report.files import append_step_summary, atomic_write, point_latest
from eg_harness.report.html import render_html
from eg_harness.report.markdown import render_summary_md
from eg_harness.report.model import Results


def write_report(
    run_dir: Path,
    results: Results,
    *,
    redact: Callable[[str], str] = lambda s: s,
    latest_link: bool = True,
    latest_name: str = "latest",
    step_summary: bool = True,
) -> dict[str, Path]:
    """Write ``results.json``, ``summary.md`` and ``report.html`` into ``run_dir``.

    Redaction happens twice: on every string of the document before rendering (escaping for
    HTML/JSON/markdown would otherwise change a secret's spelling so a final text pass cannot
    recognise it) and on each file's final text (so nothing added by rendering escapes it).

    Returns the three paths, plus ``"latest"`` when the link was made (only for a run
    directory in the reports root, report/files.point_latest) and ``"github_step_summary"``
    when that file was appended to (``step_summary=False``: not even when CI set it).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    clean = Results.model_validate(_redact_tree(results.model_dump(mode="json"), redact))
    texts = {
        "results.json": clean.model_dump_json(indent=2) + "\n",
        "summary.md": render_summary_md(clean),
        "report.html": render_html(clean, base_dir=run_dir),
    }
    written: dict[str, Path] = {}
    for name, text in texts.items():
        texts[name] = redact(text)
        atomic_write(run_dir / name, texts[name])
        written[name] = run_dir / name
    if clean.kind == "bench":
        for path in openmetrics.write(clean, run_dir):
            atomic_write(path, redact(path.read_text()))
            written[path.name] = path
    appended = append_step_summary(texts["summary.md"]) if step_summary else None
    if appended is not None:
        written["github_step_summary"] = appended
    if latest_link:
        link = point_latest(run_dir, latest_name)
        if link is not None:
            written["latest"] = link
    return written


def load_results(path: Path) -> Results:
    """A saved results.json (or the run directory holding one), validated."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    return Results.model_validate(json.loads(path.read_text(encoding="utf-8")))


def _redact_tree(value: Any, redact: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(k): _redact_tree(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_tree(v, redact) for v in value]
    return value
