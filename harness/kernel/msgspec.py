"""Every received message checked against the Jupyter messaging spec's schemas.

The schemas are jupyter-kernel-test's (msgspec_v5). A violation names the message type and
the offending field, so a test fails on the hop that mangled a message, not three steps later.
"""

from __future__ import annotations

import functools
from typing import Any

from eg_harness.kernel.client import as_client_message
from jsonschema import ValidationError
from jupyter_kernel_test import msgspec_v5
from jupyter_kernel_test.msgspec_v5 import validate_message

# jupyter-kernel-test 0.7.0 types input_request.password as a number; the messaging spec (and
# every kernel) makes it a boolean. Corrected here so the check does not fail correct kernels.
msgspec_v5.schema_fragments["input_request"]["properties"]["password"] = {"type": "boolean"}

# msgspec_v5 builds a new Draft4Validator for every message; a flood of 10,000 outputs would
# spend minutes compiling the same schema. The schema depends only on these arguments.
for _name in (
    "get_msg_content_validator",
    "get_error_reply_validator",
    "get_abort_reply_validator",
):
    _fn = getattr(msgspec_v5, _name)
    if not hasattr(_fn, "cache_info"):
        setattr(msgspec_v5, _name, functools.lru_cache(maxsize=256)(_fn))


def violation(frame: dict[str, Any]) -> str | None:
    """None if the message conforms (or has no schema), else what is wrong and where."""
    try:
        validate_message(as_client_message(frame))
    except KeyError as exc:  # a message type the schemas do not cover (e.g. comm_msg)
        if str(exc).strip("'") == (frame.get("header") or {}).get("msg_type"):
            return None
        return f"missing field {exc}"
    except ValidationError as exc:
        where = ".".join(str(p) for p in exc.absolute_path) or "(message)"
        kind = (frame.get("header") or {}).get("msg_type", "?")
        return f"{kind} on {frame.get('channel', '?')}: field {where}: {exc.message}"
    return None
