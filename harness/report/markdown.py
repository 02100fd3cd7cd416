"""summary.md: GitHub-flavoured markdown sized for a CI step summary, the verdict and what to
look at first, with the full detail left to report.html."""

from __future__ import annotations

import html

from eg_harness.checks.upgrade import view as upgrade_view
from eg_harness.report.model import Results
from eg_harness.report.spans import aggregate_spans, format_ms, format_seconds

# GitHub truncates step summaries at 1 MiB; a run where everything fails must still fit.
MAX_FAILURE_ROWS = 50
MAX_MESSAGE_CHARS = 200


ICONS = {"passed": "✅", "failed": "❌", "error": "⛔", "no-tests": "⚠️", "interrupted": "⏹️"}
# The per-suite table's columns: what a release manager asks of each suite (xpassed when any).
SUITE_COLUMNS = ("passed", "failed", "error", "skipped", "xfailed", "inconclusive")


def render_summary_md(results: Results) -> str:
    v = results.verdict
    title = [f"# {ICONS[v.status]} {v.word}", f"run {md_code(results.run_id)}"]
    title.append(f"target {md_code(results.target.kind)}")
    if results.duration_s is not None:
        title.append(format_seconds(results.duration_s))
    out = [" · ".join(title), ""]
    out += [f"**Verdict: {v.status}** — {md_cell(v.reason)} (exit {v.exit_code})", ""]
    if results.target.error:
        out += [f"> **Target error:** {md_cell(results.target.error)}", ""]
    out += selection_md(results)
    out += suites_md(results)

    if results.command:
        out += [md_code(results.command), ""]
    out.append(counts_line(results))
    when = [
        f"{label} {md_cell(value)}"
        for value, label in ((results.started_at, "started"), (results.finished_at, "finished"))
        if value
    ]
    if when:
        out += ["", " · ".join(when)]

    if results.target.versions:
        out += ["", "### Versions", "", "| Component | Version |", "|---|---|"]
        out += [f"| {md_cell(k)} | {md_cell(v)} |" for k, v in results.target.versions.items()]

    if results.phase:
        out += ["", f"Phase: **{results.phase}** an operator's upgrade"]
    if results.upgrade is not None:
        out += upgrade_md(results)

    bad = [t for t in results.tests if t.bad]
    if bad:
        out += ["", "### Failures", "", "| Outcome | Test | Message |", "|---|---|---|"]
        for t in bad[:MAX_FAILURE_ROWS]:
            first = first_line(t.message)
            if len(first) > MAX_MESSAGE_CHARS:
                first = first[: MAX_MESSAGE_CHARS - 1] + "…"
            out.append(f"| {t.outcome} | {md_code(t.nodeid)} | {md_cell(first)} |")
        if len(bad) > MAX_FAILURE_ROWS:
            out.append(f"\n…and {len(bad) - MAX_FAILURE_ROWS} more in report.html")

    rows = aggregate_spans(results.spans)
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
            phases = ", ".join(f"{p} {format_ms(v)}" for p, v in r["phase_p50"].items() if v > 0)
            cells = [
                md_cell(r["name"]),
                md_cell(r["kernelspec"] or "—"),
                md_cell(r["hop"] or "—"),
                str(r["count"]),
                str(r["failed"]),
                format_seconds(r["p50"]),
                format_seconds(r["p95"]),
                format_seconds(r["max"]),
                md_cell(phases or "—"),
            ]
            out.append("| " + " | ".join(cells) + " |")

    for table in results.tables:
        out += ["", f"### {md_cell(table.title)}", ""]
        out.append("| " + " | ".join(md_cell(c) for c in table.columns) + " |")
        out.append("|" + "---|" * len(table.columns))
        for row in table.rows:
            out.append("| " + " | ".join(md_cell(cell_text(c)) for c in row) + " |")

    out += ["", f"**Cleanup:** {md_cell(cleanup_line(results))}"]
    if results.diagnostics:
        out += ["", "**Diagnostics:** " + ", ".join(md_code(d) for d in results.diagnostics)]
    out += ["", "Full report: `report.html` in the run directory.", ""]
    return "\n".join(out)


def selection_md(results: Results) -> list[str]:
    """What was asked for and what of the catalogue did not run, before any figure."""
    sel = results.selection
    if sel is None:
        return []
    out = [f"**Selection:** {md_cell(sel.describe())}", ""]
    if sel.partial:
        left = ", ".join(sel.suites_not_run) or "none"
        why = f"; {sel.deselected} tests deselected" if sel.deselected else ""
        out += [f"> **Partial run.** Suites not run: {md_cell(left)}{md_cell(why)}", ""]
    elif sel.suites:
        out += [f"Complete run: every suite of the catalogue ran ({len(sel.suites)}).", ""]
    return out


def suites_md(results: Results) -> list[str]:
    """One row per suite that ran (tests per outcome, time), then the catalogue's suites
    that did not."""
    rows = results.suite_counts()
    not_run = results.selection.suites_not_run if results.selection else []
    if not rows and not not_run:
        return []
    extra = ("xpassed",) if results.summary.xpassed else ()
    columns = (*SUITE_COLUMNS, *extra)
    out = ["| Suite | " + " | ".join(columns) + " | time |"]
    out.append("|---|" + "--:|" * len(columns) + "--:|")
    for suite, counts, seconds in rows:
        cells = [str(counts[c]) for c in columns]
        out.append(f"| {md_cell(suite)} | " + " | ".join(cells) + f" | {format_seconds(seconds)} |")
    for suite in not_run:
        out.append(f"| {md_cell(suite)} | " + " | ".join("—" for _ in columns) + " | not run |")
    return [*out, ""]


def upgrade_md(results: Results) -> list[str]:
    v = upgrade_view(results.upgrade)
    out = ["", "### Upgrade A → B with live users", "", "| Component | A | B |", "|---|---|---|"]
    out += [f"| {md_cell(k)} | {md_code(a)} | {md_code(b)} |" for k, a, b in v["versions"]]
    out += ["", "| " + " | ".join(md_cell(c) for c in v["columns"]) + " |"]
    out.append("|" + "---|" * len(v["columns"]))
    out += ["| " + " | ".join(md_cell(cell_text(c)) for c in r) + " |" for r in v["rows"]]
    out += ["", md_cell(v["note"])]
    if v["suites"]:
        counts = ", ".join(f"{n} {k}" for k, n in (v["suites_summary"] or {}).items())
        out += ["", f"Suites on the upgraded stack: {md_code(v['suites'])} ({counts})"]
    return out


def counts_line(results: Results) -> str:
    """The counts as every artifact states them (pytest's summary line uses the same)."""
    s = results.summary
    parts = [f"{n} {o}" for o, n in s.by_outcome() if n or o in ("passed", "failed")]
    line = f"**{s.total} tests:** " + " · ".join(parts)
    if s.subtests.total:
        sub = s.subtests
        line += (
            f" — and {sub.total} sub-tests: {sub.passed} passed · {sub.failed} failed · "
            f"{sub.skipped} skipped (counted apart)"
        )
    return line


def cleanup_line(results: Results) -> str:
    if results.cleanup is None:
        return "not recorded"
    left = results.cleanup_left
    if not left:
        return "nothing left behind"
    parts = []
    for key, items in left.items():
        shown = ", ".join(str(i) for i in items[:5])
        more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
        parts.append(f"{key.replace('_', ' ')}: {shown}{more}")
    return "left behind — " + "; ".join(parts)


def cell_text(value: object) -> str:
    return "" if value is None else str(value)


def first_line(message: str | None) -> str:
    text = (message or "").strip()
    return text.splitlines()[0] if text else ""


def md_cell(text: str) -> str:
    """Text for a markdown table cell: HTML-escaped so messages display literally (and any
    markup in them stays inert), ``|`` escaped so it cannot split the row, one line only."""
    text = html.escape(text, quote=False).replace("|", "\\|")
    return " ".join(text.split())


def md_code(text: str) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"
