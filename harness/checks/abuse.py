"""The verdict on one bad input: did the server refuse it the way the catalogue expects?

Kept apart from the sending so the rule can be read (and unit-tested) on its own: a refusal
is a 4xx without a traceback; a 5xx, a traceback, an accepted request, an answerless close and
a hang are each named as what they are.
"""

from __future__ import annotations

from eg_harness.abuse.wire import Observation


def verdict(expect: str, obs: Observation, bound: float) -> tuple[bool, str]:
    """(passed, why) for an observation against the catalogue's expected class."""
    if obs.outcome == "hung":
        what = "no answer and no close" if expect == "contained" else "no answer"
        return False, f"{what} within {obs.bound_s or bound:.1f}s: a hang"
    status = obs.status
    if expect == "4xx":
        if obs.outcome != "answered" or status is None:
            return False, "the connection closed without an answer"
        if obs.traceback:
            return False, f"answered {status} with a traceback ({obs.traceback})"
        if 400 <= status < 500:
            return True, "clear 4xx"
        if status >= 500:
            return False, f"answered {status} (a server error, not a refusal)"
        return False, f"accepted it: {status}"
    if expect == "contained":
        if obs.outcome == "closed":
            code = f" (code {obs.close_code})" if obs.close_code is not None else ""
            return True, f"socket closed{code}"
        if obs.outcome == "answered":
            return True, "ignored; the socket still answers"
        return False, f"unexpected outcome {obs.outcome}"
    if expect == "held":
        if obs.outcome == "held":
            return True, "held open (waits for the rest); others served meanwhile"
        if obs.outcome == "closed":
            return True, "connection closed; others served meanwhile"
        if status is not None and 400 <= status < 500 and not obs.traceback:
            return True, f"refused at once ({status}); others served meanwhile"
        return False, f"answered {status}" + (" with a traceback" if obs.traceback else "")
    if expect == "released":
        if obs.outcome == "released":
            return True, "dropped connection let go"
        return False, f"the dropped connection was not let go: {obs.message}"
    raise ValueError(f"unknown expectation {expect!r}")
