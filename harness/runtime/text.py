"""Shortening a text for a table cell or a one-line summary without lying about it.

A message cut at a fixed width ends mid-word ("...with no message in f") and hides that
anything was cut. `clip` cuts at a line or word boundary and says how much it left out, so a
reader knows the rest exists (the whole text stays in the failure's own message).
"""

from __future__ import annotations

MARK = "… ({n} more characters)"


def clip(text: str, limit: int) -> str:
    """`text` whole when it fits in `limit` characters; otherwise its longest prefix ending at
    a line end (preferred) or a word end, with "… (N more characters)" after it.

    A first word longer than the limit is cut inside the word rather than shown empty; the
    marker still counts what is missing. The marker's own length is not counted in `limit`.
    """
    if len(text) <= limit:
        return text
    head = text[:limit]
    nl = head.rfind("\n")
    if nl >= limit // 2:
        cut = nl
    else:
        # A word ends where a blank begins: the last blank at or before the limit.
        window = text[: limit + 1]
        cut = next((i for i in range(len(window) - 1, 0, -1) if window[i].isspace()), limit)
    kept = text[:cut].rstrip()
    return kept + MARK.format(n=len(text) - len(kept))


def first_line(text: str, limit: int) -> str:
    """The first line of `text`, clipped; a marker counts the other lines too."""
    line, _, rest = text.partition("\n")
    shown = clip(line, limit)
    if not rest.strip():
        return shown
    if shown == line:
        return line + MARK.format(n=len(text) - len(line))
    kept = shown[: shown.rindex("… (")]
    return kept + MARK.format(n=len(text) - len(kept))
