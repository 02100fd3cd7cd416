"""Where a numbered stream of outputs broke: missing runs, duplicates, reordering.

"6994 of 10000 arrived" does not say whether a hop dropped a burst, reordered, or duplicated;
the ranges do, and they are what a bug report against a relay needs.
"""

from __future__ import annotations


def _ranges(numbers: list[int]) -> str:
    if not numbers:
        return ""
    out, start, prev = [], numbers[0], numbers[0]
    for n in numbers[1:]:
        if n != prev + 1:
            out.append(f"{start}..{prev}" if prev != start else str(start))
            start = n
        prev = n
    out.append(f"{start}..{prev}" if prev != start else str(start))
    shown = ", ".join(out[:8])
    return shown + (f" (+{len(out) - 8} more runs)" if len(out) > 8 else "")


def breaks(lines: list[str], n: int) -> str | None:
    """None when `lines` is exactly "0".."n-1" in order; else where and how it differs."""
    expected = [str(i) for i in range(n)]
    if lines == expected:
        return None
    got = [int(x) for x in lines if x.isdigit()]
    seen = set(got)
    missing = sorted(set(range(n)) - seen)
    dupes = sorted({x for x in got if got.count(x) > 1}) if len(got) != len(seen) else []
    first = next((i for i, (a, b) in enumerate(zip(lines, expected)) if a != b), len(lines))
    parts = [f"{len(lines)} of {n} arrived, first difference at position {first}"]
    if missing:
        parts.append(f"missing {len(missing)}: {_ranges(missing)}")
    if dupes:
        parts.append(f"duplicated: {_ranges(dupes)}")
    if got != sorted(got):
        parts.append("out of order")
    junk = len(lines) - len(got)
    if junk:
        parts.append(f"{junk} lines that are not numbers")
    return "; ".join(parts)
