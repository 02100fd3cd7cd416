"""report.html: one self-contained page rendered by Jinja2 (autoescaped) from the model.

Self-contained because the file is opened from CI artifacts and air-gapped machines, where
fetching anything fails or leaks: no external URLs; CSS, JS and charts are inlined. The page
is complete without JavaScript; a small inline script (templates/report.js) only adds the
test filter. Markup, CSS and JS live in templates/; this module computes what they show.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from eg_harness.checks import upgrade as upgrade_table
from eg_harness.report.diff import FIGURE_COLUMNS, REGRESSING, figure_row
from eg_harness.report.markdown import SUITE_COLUMNS
from eg_harness.report.model import OUTCOMES, SCHEMA_VERSION, Results, Span, outcome_rank
from eg_harness.report.spans import aggregate_spans, format_ms, format_seconds
from eg_harness.report.verdict import Selection, Verdict
from markupsafe import Markup

# Past these sizes a failure message is folded away, so one huge traceback cannot push every
# other result off the first screen.
LONG_MESSAGE_LINES = 12
LONG_MESSAGE_CHARS = 1200
# Above this many spans the per-span details start closed, so the page stays scannable.
OPEN_SPANS_LIMIT = 20
PALETTE = ("#0969da", "#8250df", "#1a7f37", "#bf8700", "#bc4c00", "#1b7c83", "#cf222e")
TEMPLATES = Path(__file__).with_name("templates")

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["seconds"] = format_seconds
_env.filters["ms"] = format_ms
_env.filters["urlpath"] = lambda href: quote(href, safe="/")


def _asset(name: str) -> Markup:
    """CSS and JS go in verbatim (they are ours, and Jinja must not read ``{#`` in them)."""
    return Markup((TEMPLATES / name).read_text(encoding="utf-8"))


_env.globals["asset"] = _asset


def render_test_extra(spans: list[dict], findings: dict[str, dict]) -> str:
    """One test's spans and findings rows as an HTML fragment (a pytest-html extra); empty when
    the test recorded neither. The caller redacts the inputs."""
    if not spans and not findings:
        return ""
    return _env.get_template("test_extra.html.j2").render(spans=spans, findings=findings)


def render_verdict_banner(verdict: Verdict, selection: Selection | None) -> str:
    """The verdict (and what ran) as an HTML fragment for pages the harness does not render
    itself (pytest-html's summary), so they print the same field."""
    return _env.get_template("verdict_banner.html.j2").render(v=verdict, sel=selection)


def render_html(results: Results, *, base_dir: Path | None = None) -> str:
    """``base_dir`` only lets diagnostics links note files that are missing."""
    present = sorted({t.outcome for t in results.tests}, key=outcome_rank)
    return _env.get_template("report.html.j2").render(
        r=results,
        schema_version=SCHEMA_VERSION,
        outcomes=OUTCOMES,
        present_outcomes=present,
        suites=[(name, members, _tally(members)) for name, members in results.suites()],
        sel=results.selection,
        suite_rows=results.suite_counts(),
        suite_columns=[*SUITE_COLUMNS, *(("xpassed",) if results.summary.xpassed else ())],
        not_run=results.selection.suites_not_run if results.selection else [],
        message=_message,
        span_rows=aggregate_spans(results.spans),
        spans=[_span_view(s, len(results.spans) <= OPEN_SPANS_LIMIT) for s in results.spans],
        diagnostics=[_diagnostic(d, base_dir) for d in results.diagnostics],
        cell=_cell,
        upgrade=upgrade_table.view(results.upgrade) if results.upgrade else None,
        target_extra={
            k: v for k, v in (results.target.model_extra or {}).items() if v not in (None, {}, [])
        },
    )


def _tally(members) -> str:
    counts: dict[str, int] = {}
    for t in members:
        counts[t.outcome] = counts.get(t.outcome, 0) + 1
    ordered = sorted(counts.items(), key=lambda kv: outcome_rank(kv[0]))
    return " · ".join(f"{n} {o}" for o, n in ordered)


def _message(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    long = text.count("\n") + 1 > LONG_MESSAGE_LINES or len(text) > LONG_MESSAGE_CHARS
    first = text.strip().splitlines()[0] if text.strip() else ""
    if len(first) > 160:
        first = first[:159] + "…"
    return {"text": text, "folded": long, "first": first}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _span_view(span: Span, open_all: bool) -> dict[str, Any]:
    rows, prev = [], 0.0
    for name, offset in span.phases.items():
        rows.append({"name": name, "at_ms": offset * 1000, "delta_ms": (offset - prev) * 1000})
        prev = offset
    ok = span.succeeded
    return {
        "span": span,
        "ok": ok,
        "open": open_all or not ok,
        "attr_text": " ".join(f"{k}={_cell(v)}" for k, v in span.attrs.items()),
        "rows": rows,
        "waterfall": waterfall(list(span.phases.items())),
    }


def waterfall(phases: list[tuple[str, float]], *, track_width: int = 420) -> dict | None:
    """Geometry of an SVG waterfall: one row per phase, a bar from the previous phase to this.

    Inline SVG rather than a matplotlib PNG per span: a run has dozens of spans, and SVG stays
    sharp, small, text-searchable and styled by the page. Each span gets its own scale; the
    total is printed so spans can still be compared.
    """
    segments: list[tuple[str, float, float]] = []
    prev = 0.0
    for i, (name, offset) in enumerate(phases):
        if i == 0 and offset <= 0:
            prev = offset
            continue  # the origin ("requested") has no extent of its own
        segments.append((name, min(prev, offset), max(prev, offset)))
        prev = offset
    if not segments:
        return None
    label_w, value_w, row_h, pad, axis_h = 140, 80, 20, 4, 20
    total = max(end for _, _, end in segments)
    scale = track_width / total if total > 0 else 0.0
    rows = []
    for i, (name, start, end) in enumerate(segments):
        y = pad + i * row_h
        rows.append(
            {
                "name": name,
                "y": y,
                "x0": label_w + start * scale,
                "w": max(1.0, (end - start) * scale),
                "color": PALETTE[i % len(PALETTE)],
                "length": end - start,
                "end": end,
            }
        )
    axis_y = pad + row_h * len(segments) + 2
    ticks = [
        {
            "x": label_w + track_width * frac,
            "anchor": "start" if frac == 0 else "end" if frac == 1 else "middle",
            "label": total * frac,
        }
        for frac in (0, 0.25, 0.5, 0.75, 1)
    ]
    return {
        "width": label_w + track_width + value_w,
        "height": pad + row_h * len(segments) + axis_h,
        "label_w": label_w,
        "track_end": label_w + track_width,
        "row_h": row_h,
        "rows": rows,
        "axis_y": axis_y,
        "ticks": ticks,
        "total": total,
    }


def _diagnostic(item: str, base_dir: Path | None) -> dict[str, Any]:
    href = _relative_href(item, base_dir)
    missing = href is not None and base_dir is not None and not (base_dir / href).exists()
    return {"text": item, "href": href, "missing": missing}


def _relative_href(item: str, base_dir: Path | None) -> str | None:
    """A link only for files inside the run directory: anything else (absolute, outside, a
    URL) is shown as text so the page links nowhere else."""
    head = item.split("/", 1)[0]
    if ":" in head or item.startswith("//") or "\\" in item:
        return None
    path = Path(item)
    if path.is_absolute():
        if base_dir is None:
            return None
        try:
            path = path.relative_to(base_dir)
        except ValueError:
            return None
    if ".." in path.parts:
        return None
    return path.as_posix()


def render_diff(d: Any) -> str:
    """diff.html: a run diff (``eg_harness.report.diff.RunDiff``) as one self-contained page."""
    return _env.get_template("diff.html.j2").render(
        d=d, regressing=REGRESSING, figure_columns=FIGURE_COLUMNS, figure_row=figure_row
    )
