"""Turn one run's collected results into files people and CI can read.

Everything a run learns ends up in one plain dict (the ``results.json`` document); this module
is the only place that turns it into files. It has no pytest import on purpose: a report can be
re-rendered from a saved ``results.json`` long after the run, and a broken plugin cannot take
reporting down with it.

Every file is written through the caller's ``redact`` function, because reports are exactly the
artifacts that get uploaded and shared, and the messages they quote come from servers that may
echo tokens back.
"""

from __future__ import annotations

import contextlib
import html
import json
import math
import os
import re
import secrets as _secrets
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

SCHEMA_VERSION = 1

OUTCOMES = ("passed", "failed", "error", "skipped")
_BAD = frozenset({"failed", "error"})

# Past these sizes a failure message is folded away, so one huge traceback cannot push every
# other result off the first screen.
_LONG_MESSAGE_LINES = 12
_LONG_MESSAGE_CHARS = 1200
# GitHub truncates step summaries at 1 MiB; a run where everything fails must still fit.
_MD_MAX_FAILURE_ROWS = 50
_MD_MAX_MESSAGE_CHARS = 200
# Above this many spans the per-span details start closed, so the page stays scannable.
_OPEN_SPANS_LIMIT = 20
_MIN_SECRET_LEN = 8


# --------------------------------------------------------------------------------------------
# Small reusable helpers
# --------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default), so p50 of an even count is the mean
    of the middle pair rather than an arbitrary one of them."""
    if len(values) == 0:
        raise ValueError("percentile of an empty sequence")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be within 0..100, got {q!r}")
    xs = sorted(float(v) for v in values)
    rank = (len(xs) - 1) * (q / 100.0)
    lo = math.floor(rank)
    hi = math.ceil(rank)
    return xs[lo] + (xs[hi] - xs[lo]) * (rank - lo)


def format_seconds(seconds: Any) -> str:
    """Human scale for durations: kernel starts are seconds, API calls are milliseconds, and a
    single fixed unit makes one of the two unreadable."""
    s = _num(seconds)
    if s is None:
        return "—"
    if s < 0:
        return "-" + format_seconds(-s)
    if s < 0.001:
        return "<1 ms" if s > 0 else "0 ms"
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 60:
        return f"{s:.2f} s"
    minutes, sec = divmod(s, 60)
    if minutes < 60:
        return f"{int(minutes)}m {sec:04.1f}s"
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}h {minutes:02d}m {sec:02.0f}s"


def summary_counts(results: Mapping[str, Any]) -> dict[str, int]:
    """Counts per outcome, trusting the collector's ``summary`` where present because it can
    know about results (e.g. collection errors) that never became a ``tests`` entry."""
    tests = _tests(results)
    counts: dict[str, int] = {o: 0 for o in OUTCOMES}
    for t in tests:
        outcome = str(t.get("outcome") or "unknown")
        counts[outcome] = counts.get(outcome, 0) + 1
    counts["total"] = len(tests)
    given = results.get("summary")
    if isinstance(given, Mapping):
        for key, value in given.items():
            if isinstance(value, int) and not isinstance(value, bool):
                counts[str(key)] = value
    return counts


def exit_code_for(results: Mapping[str, Any]) -> int:
    """Process exit status for a run: CI gates on this, so a failure recorded only in the
    summary counts still fails the job."""
    if any(t.get("outcome") in _BAD for t in _tests(results)):
        return 1
    given = results.get("summary")
    if isinstance(given, Mapping):
        for key in _BAD:
            n = given.get(key)
            if isinstance(n, int) and not isinstance(n, bool) and n > 0:
                return 1
    return 0


def verdict_for(results: Mapping[str, Any]) -> str:
    return "FAILED" if exit_code_for(results) else "PASSED"


def span_ok(span: Mapping[str, Any]) -> bool:
    """A span without an explicit ``ok`` counts as good only if it recorded no error, so an
    unfinished span never silently improves the statistics."""
    ok = span.get("ok")
    if ok is None:
        return not span.get("error")
    return bool(ok)


def span_phases(span: Mapping[str, Any]) -> list[tuple[str, float]]:
    """Numeric phases in recorded order; non-numbers are dropped rather than failing the page,
    since a half-recorded span is exactly the kind of thing a report must still show."""
    phases = span.get("phases")
    if not isinstance(phases, Mapping):
        return []
    out: list[tuple[str, float]] = []
    for name, value in phases.items():
        v = _num(value)
        if v is not None:
            out.append((str(name), v))
    return out


def aggregate_spans(spans: Iterable[Any]) -> list[dict[str, Any]]:
    """Group spans per (name, kernelspec, hop) with timing percentiles of the last phase.

    Failed spans are counted but kept out of the percentiles: a start that died after 50 ms
    would otherwise look like the fastest start of the run.
    """
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for span in spans:
        if not isinstance(span, Mapping):
            continue
        attrs = span.get("attrs") if isinstance(span.get("attrs"), Mapping) else {}
        key = (
            str(span.get("name") or "?"),
            _plain(attrs.get("kernelspec"), ""),
            _plain(attrs.get("hop"), ""),
        )
        group = groups.setdefault(key, {"totals": [], "failed": 0, "phases": {}})
        phases = span_phases(span)
        if not span_ok(span):
            group["failed"] += 1
            continue
        if not phases:
            continue
        group["totals"].append(phases[-1][1])
        for name, offset in phases:
            group["phases"].setdefault(name, []).append(offset)
    rows = []
    for (name, kernelspec, hop), group in groups.items():
        totals = group["totals"]
        rows.append(
            {
                "name": name,
                "kernelspec": kernelspec,
                "hop": hop,
                "count": len(totals),
                "failed": group["failed"],
                "p50": percentile(totals, 50) if totals else None,
                "p95": percentile(totals, 95) if totals else None,
                "max": max(totals) if totals else None,
                "phase_p50": {p: percentile(v, 50) for p, v in group["phases"].items()},
            }
        )
    return rows


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def write_report(
    run_dir: Path,
    results: dict,
    *,
    redact: Callable[[str], str] = lambda s: s,
    latest_link: bool = True,
    latest_name: str = "latest",
) -> dict[str, Path]:
    """Write ``results.json``, ``summary.md`` and ``report.html`` into ``run_dir``.

    Redaction happens twice: on every string of the document before rendering (escaping for
    HTML/JSON/markdown would otherwise change a secret's spelling so a final text pass cannot
    recognise it) and on each file's final text (so nothing added by rendering escapes it).

    Returns ``{"results.json", "summary.md", "report.html"}`` paths, plus ``"latest"`` when the
    symlink was made and ``"github_step_summary"`` when that file was appended to.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    clean = _redact_tree(results, redact)
    texts = {
        "results.json": json.dumps(clean, indent=2, ensure_ascii=False, default=str) + "\n",
        "summary.md": render_summary_md(clean),
        "report.html": render_html(clean, base_dir=run_dir),
    }
    written: dict[str, Path] = {}
    for name, text in texts.items():
        texts[name] = redact(text)
        path = run_dir / name
        _atomic_write(path, texts[name])
        written[name] = path

    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        target = Path(step_summary)
        try:
            _append_with_separation(target, texts["summary.md"])
            written["github_step_summary"] = target
        except OSError as exc:
            # The report itself is already on disk; losing the CI summary must not lose it.
            warnings.warn(f"could not append to GITHUB_STEP_SUMMARY: {exc}", stacklevel=2)

    if latest_link:
        link = _point_latest(run_dir, latest_name)
        if link is not None:
            written["latest"] = link
    return written


def scan_for_secrets(directory: Path, secrets: Iterable[str]) -> list[tuple[Path, str]]:
    """Find files under ``directory`` containing any secret; returns ``(path, hint)`` per hit.

    Used to prove a report leaked nothing, so it errs towards finding: files are read as bytes
    (logs need not be valid UTF-8), the HTML- and JSON-escaped spellings are searched too, and
    a missing directory raises instead of vacuously passing. Secrets shorter than 8 characters
    are skipped because they match ordinary text and would drown real hits.
    """
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"not a directory: {root}")
    needles: list[tuple[str, tuple[bytes, ...]]] = []
    seen: set[str] = set()
    for secret in secrets:
        if not isinstance(secret, str) or len(secret) < _MIN_SECRET_LEN or secret in seen:
            continue
        seen.add(secret)
        forms = {
            secret.encode("utf-8"),
            html.escape(secret).encode("utf-8"),
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


# --------------------------------------------------------------------------------------------
# summary.md
# --------------------------------------------------------------------------------------------


def render_summary_md(results: Mapping[str, Any]) -> str:
    """GitHub-flavoured markdown, sized for a CI step summary: the verdict and what to look at
    first, with the full detail left to report.html."""
    verdict = verdict_for(results)
    icon = "❌" if verdict == "FAILED" else "✅"
    target = results.get("target") if isinstance(results.get("target"), Mapping) else {}
    title = [f"# {icon} {verdict}", f"run {_md_code(_plain(results.get('run_id'), '?'))}"]
    if target.get("kind"):
        title.append(f"target {_md_code(_plain(target.get('kind')))}")
    if _num(results.get("duration_s")) is not None:
        title.append(format_seconds(results.get("duration_s")))
    out = [" · ".join(title), ""]

    if results.get("command"):
        out += [_md_code(_plain(results.get("command"))), ""]
    counts = summary_counts(results)
    parts = [f"{counts.get(o, 0)} {o}" for o in OUTCOMES]
    parts += [f"{n} {k}" for k, n in counts.items() if k not in OUTCOMES and k != "total"]
    out.append(f"**{counts.get('total', 0)} tests:** " + " · ".join(parts))
    when = [
        f"{label} {_md_cell(_plain(results.get(key)))}"
        for key, label in (("started_at", "started"), ("finished_at", "finished"))
        if results.get(key)
    ]
    if when:
        out.append("")
        out.append(" · ".join(when))
    if results.get("schema_version") != SCHEMA_VERSION:
        out += [
            "",
            f"> **Note:** results schema_version is "
            f"{_md_cell(_plain(results.get('schema_version'), 'missing'))}, this renderer "
            f"expects {SCHEMA_VERSION}; some sections may be incomplete.",
        ]

    versions = target.get("versions")
    if isinstance(versions, Mapping) and versions:
        out += ["", "### Versions", "", "| Component | Version |", "|---|---|"]
        out += [f"| {_md_cell(str(k))} | {_md_cell(_plain(v))} |" for k, v in versions.items()]

    bad = [t for t in _tests(results) if t.get("outcome") in _BAD]
    if bad:
        out += ["", "### Failures", "", "| Outcome | Test | Message |", "|---|---|---|"]
        for t in bad[:_MD_MAX_FAILURE_ROWS]:
            first = _first_line(t.get("message"))
            if len(first) > _MD_MAX_MESSAGE_CHARS:
                first = first[: _MD_MAX_MESSAGE_CHARS - 1] + "…"
            name = _plain(t.get("nodeid") or t.get("name"), "?")
            out.append(
                f"| {_md_cell(_plain(t.get('outcome')))} | {_md_code(name)} | {_md_cell(first)} |"
            )
        if len(bad) > _MD_MAX_FAILURE_ROWS:
            out.append(f"\n…and {len(bad) - _MD_MAX_FAILURE_ROWS} more in report.html")

    spans = results.get("spans")
    rows = aggregate_spans(spans) if isinstance(spans, list) else []
    if rows:
        out += [
            "",
            "### Startup spans",
            "",
            "Time to the last phase of successful spans; failed spans are counted separately.",
            "",
            "| Span | Kernelspec | Hop | n | failed | p50 | p95 | max | p50 per phase |",
            "|---|---|---|--:|--:|--:|--:|--:|---|",
        ]
        for r in rows:
            phases = ", ".join(f"{p} {_fmt_ms(v)}" for p, v in r["phase_p50"].items() if v > 0)
            out.append(
                "| "
                + " | ".join(
                    [
                        _md_cell(r["name"]),
                        _md_cell(r["kernelspec"] or "—"),
                        _md_cell(r["hop"] or "—"),
                        str(r["count"]),
                        str(r["failed"]),
                        format_seconds(r["p50"]),
                        format_seconds(r["p95"]),
                        format_seconds(r["max"]),
                        _md_cell(phases or "—"),
                    ]
                )
                + " |"
            )

    for table in _tables(results):
        out += ["", f"### {_md_cell(table['title'])}", ""]
        out.append("| " + " | ".join(_md_cell(str(c)) for c in table["columns"]) + " |")
        out.append("|" + "---|" * len(table["columns"]))
        for row in table["rows"]:
            out.append("| " + " | ".join(_md_cell(_plain(c, "")) for c in row) + " |")

    out += ["", f"**Cleanup:** {_md_cell(_cleanup_line(results.get('cleanup')))}"]
    diagnostics = _diagnostics(results)
    if diagnostics:
        out += ["", "**Diagnostics:** " + ", ".join(_md_code(d) for d in diagnostics)]
    out += ["", "Full report: `report.html` in the run directory.", ""]
    return "\n".join(out)


def _cleanup_line(cleanup: Any) -> str:
    if not isinstance(cleanup, Mapping):
        return "not recorded"
    left = [(k, v) for k, v in cleanup.items() if v]
    if not left:
        return "nothing left behind"
    parts = []
    for key, value in left:
        items = value if isinstance(value, list) else [value]
        shown = ", ".join(_plain(i) for i in items[:5])
        more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
        parts.append(f"{key.replace('_', ' ')}: {shown}{more}")
    return "left behind — " + "; ".join(parts)


# --------------------------------------------------------------------------------------------
# report.html
# --------------------------------------------------------------------------------------------

_CSS = """
:root { --ok:#1a7f37; --bad:#cf222e; --skip:#9a6700; --muted:#59636e; --border:#d1d9e0;
        --bg:#f6f8fa; --fg:#1f2328; --accent:#0969da; color-scheme: light; }
* { box-sizing: border-box; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; }
[hidden] { display: none !important; }
body { margin:0; color:var(--fg); background:#fff; line-height:1.45;
       font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
       sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 1.25rem 1.5rem 4rem; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas,
                   "Liberation Mono", monospace; font-size: .85em; }
h1 { font-size: 1.45rem; margin: 0; font-weight: 600; }
h2 { font-size: 1.2rem; border-bottom: 1px solid var(--border); padding-bottom: .3rem;
     margin: 2.2rem 0 .8rem; }
h3 { font-size: 1.02rem; margin: 1.4rem 0 .4rem; }
a { color: var(--accent); }
.top { border-bottom: 3px solid var(--ok); padding-bottom: .9rem; }
.top.failed { border-bottom-color: var(--bad); }
.top .row { display:flex; gap:.8rem; align-items:center; flex-wrap:wrap; }
.sub { color: var(--muted); margin: .4rem 0 0; }
nav { margin-top: .6rem; font-size: .9rem; }
nav a { margin-right: 1rem; text-decoration: none; }
.badge { display:inline-block; padding:.12em .6em; border-radius:1em; font-size:.75rem;
         font-weight:600; color:#fff; text-transform:uppercase; letter-spacing:.03em;
         white-space:nowrap; background: var(--muted); }
.badge.verdict { font-size: 1rem; padding: .25em .9em; }
.b-passed, .b-ok { background: var(--ok); }
.b-failed, .b-error, .b-bad { background: var(--bad); }
.b-skipped { background: var(--skip); }
table { border-collapse: collapse; width: 100%; margin: .4rem 0 1rem; font-size: .9rem; }
th, td { text-align:left; padding:.35rem .6rem; border-bottom:1px solid var(--border);
         vertical-align: top; }
th { background: var(--bg); font-weight: 600; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.kv th { width: 13rem; background: none; color: var(--muted); font-weight: 500; }
td.outcome { width: 6.5rem; }
td.dur { width: 6.5rem; }
.doc { color: var(--muted); font-size: .85rem; }
.nodeid { color: var(--muted); font-size: .75rem; }
pre { background: var(--bg); border:1px solid var(--border); border-radius:6px; padding:.6rem;
      margin:.4rem 0 0; overflow:auto; white-space:pre-wrap; word-break:break-word;
      max-height: 40rem; }
details > summary { cursor: pointer; }
.muted { color: var(--muted); }
.cards { display:flex; gap:.75rem; flex-wrap:wrap; margin:.4rem 0; }
.card { border:1px solid var(--border); border-radius:8px; padding:.5rem 1rem; min-width:7rem; }
.card .n { font-size: 1.6rem; font-weight: 600; font-variant-numeric: tabular-nums; }
.card .l { color: var(--muted); font-size: .85rem; }
.card.passed .n { color: var(--ok); } .card.failed .n, .card.error .n { color: var(--bad); }
.card.skipped .n { color: var(--skip); }
.chip { display:inline-block; border:1px solid var(--border); border-radius:1em;
        padding:0 .6em; margin:0 .3em .3em 0; font-size:.85rem; }
.chip.yes { border-color: var(--ok); color: var(--ok); }
.chip.no { color: var(--muted); }
.filters { display:flex; gap:1rem; align-items:center; flex-wrap:wrap; margin:.5rem 0;
           font-size:.9rem; }
.filters input[type=search] { padding:.3rem .5rem; border:1px solid var(--border);
                              border-radius:6px; min-width:16rem; }
.span { border:1px solid var(--border); border-radius:8px; padding:.5rem 1rem; margin:.6rem 0; }
.span.bad { border-color: var(--bad); }
.span > summary { font-weight: 500; }
.span-body { display:flex; gap:1.5rem; flex-wrap:wrap; align-items:flex-start;
             margin-top:.5rem; }
.span-body table { width:auto; margin:0; }
.wf text { font-size: 11px; fill: var(--fg); font-family: inherit; }
.wf .axis { stroke: var(--border); }
.wf .guide { stroke: var(--border); stroke-dasharray: 2 3; }
.note { background:#fff8c5; border:1px solid #d4a72c; border-radius:6px; padding:.5rem 1rem; }
.good { color: var(--ok); font-weight: 600; }
.bad { color: var(--bad); font-weight: 600; }
"""

_JS = """
(function () {
  var bar = document.getElementById('filters');
  if (!bar) return;
  bar.hidden = false;
  var q = document.getElementById('filter-text');
  var boxes = bar.querySelectorAll('input[type=checkbox]');
  function apply() {
    var text = q.value.toLowerCase(), show = {};
    boxes.forEach(function (b) { show[b.value] = b.checked; });
    document.querySelectorAll('tr[data-outcome]').forEach(function (tr) {
      var o = tr.getAttribute('data-outcome');
      tr.hidden = show[o] === false ||
        (text !== '' && tr.textContent.toLowerCase().indexOf(text) < 0);
    });
    document.querySelectorAll('.suite').forEach(function (s) {
      s.hidden = !s.querySelector('tr[data-outcome]:not([hidden])');
    });
  }
  q.addEventListener('input', apply);
  boxes.forEach(function (b) { b.addEventListener('change', apply); });
})();
"""

_PALETTE = ("#0969da", "#8250df", "#1a7f37", "#bf8700", "#bc4c00", "#1b7c83", "#cf222e")


def render_html(results: Mapping[str, Any], *, base_dir: Path | None = None) -> str:
    """One self-contained page: no external URLs and nothing that needs JS, because the file
    is opened from CI artifacts and air-gapped machines where fetching anything fails or
    leaks. ``base_dir`` only lets diagnostics links note files that are missing."""
    verdict = verdict_for(results)
    run_id = _plain(results.get("run_id"), "?")
    target = results.get("target") if isinstance(results.get("target"), Mapping) else {}
    sub = []
    if target.get("kind"):
        sub.append(f"target <code>{_e(_plain(target.get('kind')))}</code>")
    if _num(results.get("duration_s")) is not None:
        sub.append(_e(format_seconds(results.get("duration_s"))))
    if results.get("started_at"):
        sub.append(f"started {_e(_plain(results.get('started_at')))}")

    body = [
        f'<header class="top {verdict.lower()}">',
        '<div class="row">',
        f'<span class="badge verdict {"b-bad" if verdict == "FAILED" else "b-ok"}">'
        f"{verdict}</span>",
        f"<h1>Enterprise Gateway harness run <code>{_e(run_id)}</code></h1>",
        "</div>",
        f'<p class="sub">{" · ".join(sub)}</p>' if sub else "",
        '<nav><a href="#summary">Summary</a><a href="#target">Target</a>'
        '<a href="#tests">Tests</a><a href="#spans">Spans</a><a href="#metrics">Metrics</a>'
        + ('<a href="#findings">Findings</a>' if _tables(results) else "")
        + ('<a href="#charts">Charts</a>' if results.get("charts") else "")
        + '<a href="#cleanup">Cleanup</a><a href="#diagnostics">Diagnostics</a>'
        '<a href="results.json">results.json</a><a href="summary.md">summary.md</a></nav>',
        "</header>",
    ]
    if results.get("schema_version") != SCHEMA_VERSION:
        body.append(
            f'<p class="note">results schema_version is '
            f"{_e(_plain(results.get('schema_version'), 'missing'))}; this renderer expects "
            f"{SCHEMA_VERSION}, so some sections may be incomplete.</p>"
        )
    body += _html_summary(results)
    body += _html_target(target)
    body += _html_tests(results)
    body += _html_spans(results)
    body += _html_metrics(results)
    body += _html_tables(results)
    body += _html_charts(results)
    body += _html_cleanup(results)
    body += _html_diagnostics(results, base_dir)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{verdict} · {_e(run_id)} · EG harness</title>\n"
        f"<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        + "\n".join(b for b in body if b)
        + f"\n</main>\n<script>{_JS}</script>\n</body>\n</html>\n"
    )


def _html_summary(results: Mapping[str, Any]) -> list[str]:
    counts = summary_counts(results)
    cards = [
        f'<div class="card"><div class="n">{counts.get("total", 0)}</div>'
        f'<div class="l">total</div></div>'
    ]
    keys = list(OUTCOMES) + [k for k in counts if k not in OUTCOMES and k != "total"]
    for k in keys:
        cards.append(
            f'<div class="card {_e(k)}"><div class="n">{counts.get(k, 0)}</div>'
            f'<div class="l">{_e(k)}</div></div>'
        )
    meta = [
        ("Run id", results.get("run_id")),
        ("Command", results.get("command")),
        ("Started", results.get("started_at")),
        ("Finished", results.get("finished_at")),
        (
            "Duration",
            format_seconds(results.get("duration_s"))
            if _num(results.get("duration_s")) is not None
            else None,
        ),
        ("Schema version", results.get("schema_version")),
    ]
    rows = [f"<tr><th>{_e(k)}</th><td>{_mono_if(k, v)}</td></tr>" for k, v in meta if v is not None]
    return [
        '<section id="summary"><h2>Summary</h2>',
        f'<div class="cards">{"".join(cards)}</div>',
        f'<table class="kv">{"".join(rows)}</table>' if rows else "",
        "</section>",
    ]


def _mono_if(key: str, value: Any) -> str:
    text = _e(_plain(value))
    return f"<code>{text}</code>" if key in ("Run id", "Command") else text


def _html_target(target: Mapping[str, Any]) -> list[str]:
    out = ['<section id="target"><h2>Target</h2>']
    if not target:
        return out + ['<p class="muted">No target information recorded.</p></section>']
    if target.get("kind"):
        out.append(
            f'<table class="kv"><tr><th>Kind</th><td><code>'
            f"{_e(_plain(target.get('kind')))}</code></td></tr></table>"
        )
    endpoints = target.get("endpoints")
    if isinstance(endpoints, Mapping) and endpoints:
        out.append('<h3>Endpoints</h3><table class="kv">')
        # Endpoints are written as text, never as links: the page must not reach out anywhere.
        out += [
            f"<tr><th>{_e(str(k))}</th><td><code>{_e(_plain(v))}</code></td></tr>"
            for k, v in endpoints.items()
        ]
        out.append("</table>")
    versions = target.get("versions")
    if isinstance(versions, Mapping) and versions:
        out.append("<h3>Versions</h3><table><tr><th>Component</th><th>Version</th></tr>")
        out += [
            f"<tr><td>{_e(str(k))}</td><td><code>{_e(_plain(v))}</code></td></tr>"
            for k, v in versions.items()
        ]
        out.append("</table>")
    caps = target.get("capabilities")
    if isinstance(caps, Mapping) and caps:
        chips = []
        for k, v in caps.items():
            if isinstance(v, bool):
                cls, label = ("yes", "✓") if v else ("no", "✗")
                chips.append(f'<span class="chip {cls}">{label} {_e(str(k))}</span>')
            else:
                chips.append(f'<span class="chip">{_e(str(k))}: {_e(_plain(v))}</span>')
        out.append(f"<h3>Capabilities</h3><div>{''.join(chips)}</div>")
    for key, title, empty in (
        ("faults", "Injected faults", "none"),
        ("notes", "Notes", None),
    ):
        items = target.get(key)
        if isinstance(items, list) and items:
            lis = "".join(f"<li>{_e(_plain(i))}</li>" for i in items)
            out.append(f"<h3>{title}</h3><ul>{lis}</ul>")
        elif empty is not None and key in target:
            out.append(f'<h3>{title}</h3><p class="muted">{empty}</p>')
    out.append("</section>")
    return out


def _html_tests(results: Mapping[str, Any]) -> list[str]:
    tests = _tests(results)
    out = ['<section id="tests"><h2>Tests</h2>']
    if not tests:
        return out + ['<p class="muted">No tests recorded.</p></section>']
    present = list(dict.fromkeys(str(t.get("outcome") or "unknown") for t in tests))
    boxes = "".join(
        f'<label><input type="checkbox" value="{_e(o)}" checked> {_e(o)}</label>'
        for o in sorted(present, key=_outcome_rank)
    )
    out.append(
        '<div class="filters" id="filters" hidden>'
        '<input type="search" id="filter-text" placeholder="Filter tests…" '
        f'aria-label="Filter tests">{boxes}</div>'
    )
    suites: dict[str, list[Mapping[str, Any]]] = {}
    for t in tests:
        suites.setdefault(_suite_of(t), []).append(t)
    # Suites with failures first, and failures first within a suite: the reader came for them.
    ordered = sorted(suites.items(), key=lambda kv: not any(_is_bad(t) for t in kv[1]))
    for suite, members in ordered:
        members = sorted(members, key=lambda t: 0 if _is_bad(t) else 1)
        tally: dict[str, int] = {}
        for t in members:
            o = str(t.get("outcome") or "unknown")
            tally[o] = tally.get(o, 0) + 1
        tally_text = " · ".join(
            f"{n} {o}" for o, n in sorted(tally.items(), key=lambda kv: _outcome_rank(kv[0]))
        )
        out.append(
            f'<div class="suite"><h3>{_e(suite)} <span class="muted">({_e(tally_text)})</span>'
            '</h3><table><tr><th>Outcome</th><th>Test</th><th class="num">Duration</th></tr>'
        )
        out += [_html_test_row(t) for t in members]
        out.append("</table></div>")
    out.append("</section>")
    return out


def _html_test_row(t: Mapping[str, Any]) -> str:
    outcome = str(t.get("outcome") or "unknown")
    nodeid = _plain(t.get("nodeid"), "")
    name = _plain(t.get("name") or nodeid.split("::")[-1] or "?")
    cell = [f'<div class="mono">{_e(name)}</div>']
    if nodeid and nodeid != name:
        cell.append(f'<div class="nodeid mono">{_e(nodeid)}</div>')
    if t.get("doc"):
        cell.append(f'<div class="doc">{_e(_plain(t.get("doc")))}</div>')
    message = t.get("message")
    if message and outcome != "passed":
        text = _plain(message)
        if text.count("\n") + 1 > _LONG_MESSAGE_LINES or len(text) > _LONG_MESSAGE_CHARS:
            first = _first_line(text)
            if len(first) > 160:
                first = first[:159] + "…"
            cell.append(f"<details><summary>{_e(first)}</summary><pre>{_e(text)}</pre></details>")
        else:
            cell.append(f"<pre>{_e(text)}</pre>")
    return (
        f'<tr data-outcome="{_e(outcome)}">'
        f'<td class="outcome"><span class="badge b-{_e(outcome)}">{_e(outcome)}</span></td>'
        f"<td>{''.join(cell)}</td>"
        f'<td class="num dur">{_e(format_seconds(t.get("duration_s")))}</td></tr>'
    )


def _html_spans(results: Mapping[str, Any]) -> list[str]:
    spans = (
        [s for s in results.get("spans") or [] if isinstance(s, Mapping)]
        if isinstance(results.get("spans"), list)
        else []
    )
    out = ['<section id="spans"><h2>Spans</h2>']
    if not spans:
        return out + ['<p class="muted">No spans recorded.</p></section>']
    out.append(
        '<p class="muted">Time to the last recorded phase of successful spans; failed spans are '
        "counted but kept out of the percentiles.</p>"
        '<table><tr><th>Span</th><th>Kernelspec</th><th>Hop</th><th class="num">n</th>'
        '<th class="num">failed</th><th class="num">p50</th><th class="num">p95</th>'
        '<th class="num">max</th><th>p50 per phase</th></tr>'
    )
    for r in aggregate_spans(spans):
        phases = " · ".join(f"{_e(p)} {_e(_fmt_ms(v))}" for p, v in r["phase_p50"].items() if v > 0)
        failed_cls = " bad" if r["failed"] else ""
        out.append(
            f"<tr><td>{_e(r['name'])}</td><td>{_e(r['kernelspec'] or '—')}</td>"
            f'<td>{_e(r["hop"] or "—")}</td><td class="num">{r["count"]}</td>'
            f'<td class="num{failed_cls}">{r["failed"]}</td>'
            f'<td class="num">{_e(format_seconds(r["p50"]))}</td>'
            f'<td class="num">{_e(format_seconds(r["p95"]))}</td>'
            f'<td class="num">{_e(format_seconds(r["max"]))}</td>'
            f'<td class="doc">{phases or "—"}</td></tr>'
        )
    out.append("</table>")
    open_all = len(spans) <= _OPEN_SPANS_LIMIT
    for span in spans:
        out.append(_html_span(span, open_all))
    out.append("</section>")
    return out


def _html_span(span: Mapping[str, Any], open_all: bool) -> str:
    ok = span_ok(span)
    phases = span_phases(span)
    attrs = span.get("attrs") if isinstance(span.get("attrs"), Mapping) else {}
    attr_text = " ".join(f"{k}={_plain(v)}" for k, v in attrs.items())
    total = phases[-1][1] if phases else None
    head = (
        f'<span class="badge {"b-ok" if ok else "b-bad"}">{"ok" if ok else "failed"}</span> '
        f'{_e(_plain(span.get("name"), "?"))} <span class="muted">{_e(attr_text)}</span>'
    )
    head += f" — {'' if ok else 'last phase at '}{_e(format_seconds(total))}"
    body = []
    if span.get("test"):
        body.append(f'<div class="nodeid mono">{_e(_plain(span.get("test")))}</div>')
    if span.get("start"):
        body.append(f'<div class="doc">started {_e(_plain(span.get("start")))}</div>')
    if span.get("error"):
        body.append(f"<pre>{_e(_plain(span.get('error')))}</pre>")
    if phases:
        rows = []
        prev = 0.0
        for name, offset in phases:
            rows.append(
                f'<tr><td>{_e(name)}</td><td class="num">{offset * 1000:,.1f}</td>'
                f'<td class="num">{(offset - prev) * 1000:+,.1f}</td></tr>'
            )
            prev = offset
        table = (
            '<table><tr><th>Phase</th><th class="num">at (ms)</th>'
            f'<th class="num">Δ (ms)</th></tr>{"".join(rows)}</table>'
        )
        body.append(f'<div class="span-body">{table}{waterfall_svg(phases)}</div>')
    else:
        body.append('<p class="muted">No phases recorded.</p>')
    is_open = " open" if open_all or not ok else ""
    cls = "span" if ok else "span bad"
    return f'<details class="{cls}"{is_open}><summary>{head}</summary>{"".join(body)}</details>'


def waterfall_svg(phases: Sequence[tuple[str, float]], *, track_width: int = 420) -> str:
    """Inline SVG waterfall: one row per phase, a bar from the previous phase to this one.

    Hand-written because the harness cannot depend on a plotting library, and inline so the
    page stays one file. Each span gets its own scale; the total is printed so spans can
    still be compared.
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
        return ""
    label_w, value_w, row_h, pad = 140, 80, 20, 4
    axis_h = 20
    width = label_w + track_width + value_w
    height = pad + row_h * len(segments) + axis_h
    total = max(end for _, _, end in segments)
    scale = track_width / total if total > 0 else 0.0
    parts = [
        f'<svg class="wf" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="phase waterfall, total {_e(_fmt_ms(total))}">'
    ]
    for i, (name, start, end) in enumerate(segments):
        y = pad + i * row_h
        x0 = label_w + start * scale
        w = max(1.0, (end - start) * scale)
        color = _PALETTE[i % len(_PALETTE)]
        parts.append(
            f'<text x="{label_w - 6}" y="{y + row_h - 7}" text-anchor="end">{_e(name)}</text>'
        )
        if x0 > label_w:
            parts.append(
                f'<line class="guide" x1="{label_w}" y1="{y + row_h / 2 - 1:.1f}" '
                f'x2="{x0:.1f}" y2="{y + row_h / 2 - 1:.1f}"/>'
            )
        parts.append(
            f'<rect x="{x0:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" rx="2" '
            f'fill="{color}"><title>{_e(name)}: {_e(_fmt_ms(end - start))} '
            f"(at {_e(_fmt_ms(end))})</title></rect>"
        )
        parts.append(
            f'<text x="{label_w + track_width + 6}" y="{y + row_h - 7}">{_e(_fmt_ms(end))}</text>'
        )
    axis_y = pad + row_h * len(segments) + 2
    parts.append(
        f'<line class="axis" x1="{label_w}" y1="{axis_y}" x2="{label_w + track_width}" '
        f'y2="{axis_y}"/>'
    )
    for frac in (0, 0.25, 0.5, 0.75, 1):
        x = label_w + track_width * frac
        anchor = "start" if frac == 0 else "end" if frac == 1 else "middle"
        parts.append(
            f'<line class="axis" x1="{x:.1f}" y1="{axis_y}" x2="{x:.1f}" y2="{axis_y + 4}"/>'
            f'<text x="{x:.1f}" y="{axis_y + 15}" text-anchor="{anchor}">'
            f"{_e(_fmt_ms(total * frac))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _html_metrics(results: Mapping[str, Any]) -> list[str]:
    metrics = results.get("metrics")
    metrics = [m for m in metrics if isinstance(m, Mapping)] if isinstance(metrics, list) else []
    out = ['<section id="metrics"><h2>Metrics</h2>']
    if not metrics:
        return out + ['<p class="muted">No metrics recorded.</p></section>']
    out.append(
        '<table><tr><th>Metric</th><th class="num">Value</th><th>Unit</th><th>Attributes</th></tr>'
    )
    for m in metrics:
        attrs = m.get("attrs") if isinstance(m.get("attrs"), Mapping) else {}
        attr_text = " ".join(f"{k}={_plain(v)}" for k, v in attrs.items())
        value = _num(m.get("value"))
        shown = f"{value:.6g}" if value is not None else _plain(m.get("value"))
        out.append(
            f'<tr><td>{_e(_plain(m.get("name"), "?"))}</td><td class="num">{_e(shown)}</td>'
            f"<td>{_e(_plain(m.get('unit'), ''))}</td>"
            f'<td class="doc">{_e(attr_text)}</td></tr>'
        )
    out.append("</table></section>")
    return out


def _tables(results: Mapping[str, Any]) -> list[dict]:
    """Findings a suite reports as a table (e.g. which WebSocket protocol each hop chose)."""
    tables = results.get("tables")
    if not isinstance(tables, list):
        return []
    return [
        t
        for t in tables
        if isinstance(t, Mapping)
        and isinstance(t.get("columns"), list)
        and isinstance(t.get("rows"), list)
    ]


def _html_tables(results: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for i, table in enumerate(_tables(results)):
        anchor = ' id="findings"' if i == 0 else ""
        out.append(
            f'<section class="finding"{anchor}><h2>{_e(_plain(table.get("title"), "Table"))}</h2>'
        )
        if table.get("note"):
            out.append(f'<p class="doc">{_e(_plain(table.get("note")))}</p>')
        out.append("<table><tr>" + "".join(f"<th>{_e(str(c))}</th>" for c in table["columns"]))
        out.append("</tr>")
        for row in table["rows"]:
            cells = row if isinstance(row, list) else [row]
            out.append("<tr>" + "".join(f"<td>{_e(_plain(c, ''))}</td>" for c in cells) + "</tr>")
        out.append("</table></section>")
    return out


_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def _html_charts(results: Mapping[str, Any]) -> list[str]:
    """Charts are PNGs inlined as data: URIs (the page must stay one file); anything that is
    not plain base64 is dropped rather than trusted into an attribute."""
    charts = results.get("charts")
    if not isinstance(charts, list) or not charts:
        return []
    out = ['<section id="charts"><h2>Charts</h2>']
    for chart in charts:
        if not isinstance(chart, Mapping) or not _BASE64.fullmatch(str(chart.get("png", ""))):
            continue
        title = _e(_plain(chart.get("title"), "chart"))
        out.append(
            f'<figure><img alt="{title}" src="data:image/png;base64,{chart["png"]}">'
            f"<figcaption>{title}</figcaption></figure>"
        )
    out.append("</section>")
    return out


def _html_cleanup(results: Mapping[str, Any]) -> list[str]:
    cleanup = results.get("cleanup")
    out = ['<section id="cleanup"><h2>Cleanup</h2>']
    if not isinstance(cleanup, Mapping):
        return out + ['<p class="muted">Cleanup was not recorded.</p></section>']
    if not any(cleanup.values()):
        return out + ['<p class="good">✓ Nothing left behind.</p></section>']
    out.append('<p class="bad">✗ The run left things behind.</p><table class="kv">')
    for key, value in cleanup.items():
        items = value if isinstance(value, list) else ([value] if value else [])
        shown = (
            "<ul>" + "".join(f"<li><code>{_e(_plain(i))}</code></li>" for i in items) + "</ul>"
            if items
            else '<span class="muted">none</span>'
        )
        out.append(f"<tr><th>{_e(str(key).replace('_', ' '))}</th><td>{shown}</td></tr>")
    out.append("</table></section>")
    return out


def _html_diagnostics(results: Mapping[str, Any], base_dir: Path | None) -> list[str]:
    items = _diagnostics(results)
    out = ['<section id="diagnostics"><h2>Diagnostics</h2>']
    if not items:
        return out + ['<p class="muted">No diagnostics collected.</p></section>']
    out.append("<ul>")
    for item in items:
        href = _relative_href(item, base_dir)
        if href is None:
            # Absolute, outside the run, or a URL: shown as text so the page links nowhere else.
            out.append(f"<li><code>{_e(item)}</code></li>")
            continue
        missing = ""
        if base_dir is not None and not (Path(base_dir) / href).exists():
            missing = ' <span class="muted">(missing)</span>'
        out.append(f'<li><a href="{_e(quote(href, safe="/"))}">{_e(item)}</a>{missing}</li>')
    out.append("</ul></section>")
    return out


def _relative_href(item: str, base_dir: Path | None) -> str | None:
    head = item.split("/", 1)[0]
    if ":" in head or item.startswith("//") or "\\" in item:
        return None
    path = Path(item)
    if path.is_absolute():
        if base_dir is None:
            return None
        try:
            path = path.relative_to(Path(base_dir))
        except ValueError:
            return None
    if ".." in path.parts:
        return None
    return path.as_posix()


# --------------------------------------------------------------------------------------------
# Internals
# --------------------------------------------------------------------------------------------


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def _plain(value: Any, default: str = "—") -> str:
    """Any JSON value as display text; non-strings are shown as JSON so nothing renders as a
    Python repr."""
    if value is None:
        return default
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def _fmt_ms(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    ms = seconds * 1000
    if ms == 0:
        return "0 ms"
    return f"{ms:,.1f} ms" if abs(ms) < 100 else f"{ms:,.0f} ms"


def _first_line(message: Any) -> str:
    text = _plain(message, "").strip()
    return text.splitlines()[0] if text else ""


def _md_cell(text: str) -> str:
    """Text for a markdown table cell: HTML-escaped so messages display literally (and any
    markup in them stays inert), ``|`` escaped so it cannot split the row, one line only."""
    text = html.escape(text, quote=False).replace("|", "\\|")
    return " ".join(text.split())


def _md_code(text: str) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _tests(results: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    tests = results.get("tests")
    if not isinstance(tests, list):
        return []
    return [t for t in tests if isinstance(t, Mapping)]


def _diagnostics(results: Mapping[str, Any]) -> list[str]:
    items = results.get("diagnostics")
    if not isinstance(items, list):
        return []
    return [_plain(i) for i in items if i is not None]


def _is_bad(test: Mapping[str, Any]) -> bool:
    return test.get("outcome") in _BAD


def _outcome_rank(outcome: str) -> int:
    order = {"failed": 0, "error": 1, "skipped": 2, "passed": 3}
    return order.get(outcome, 4)


def _suite_of(test: Mapping[str, Any]) -> str:
    if test.get("suite"):
        return _plain(test.get("suite"))
    parts = _plain(test.get("nodeid"), "").split("::", 1)[0].split("/")
    if len(parts) >= 3 and parts[0] == "scenarios":
        return parts[1]
    return "(other)"


def _redact_tree(value: Any, redact: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {
            (redact(k) if isinstance(k, str) else k): _redact_tree(v, redact)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_redact_tree(v, redact) for v in value]
    return value


def _atomic_write(path: Path, text: str) -> None:
    """Write-then-rename so a crash or a concurrent reader never sees half a report."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{_secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _append_with_separation(path: Path, text: str) -> None:
    # Other steps append to the same file; without a newline our heading would glue onto
    # their last line and not render as a heading.
    prefix = ""
    with contextlib.suppress(FileNotFoundError), open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() > 0:
            fh.seek(-1, os.SEEK_END)
            prefix = "\n" if fh.read(1) != b"\n" else ""
            prefix += "\n"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(prefix + text)


def _point_latest(run_dir: Path, name: str = "latest") -> Path | None:
    """Swap ``name`` (``latest``, or ``latest-bench``) to this run atomically (symlink aside,
    then rename over) so a reader following it never finds it missing; relative so the
    reports tree can be moved or unpacked elsewhere."""
    link = run_dir.parent / name
    tmp = run_dir.parent / f".{name}.{os.getpid()}.{_secrets.token_hex(4)}"
    try:
        os.symlink(run_dir.name, tmp)
        os.replace(tmp, link)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        warnings.warn(f"could not point {link} at {run_dir.name}: {exc}", stacklevel=3)
        return None
    return link


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
