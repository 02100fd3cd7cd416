"""Every received message checked against the Jupyter messaging spec's schemas.

The schemas are jupyter-kernel-test's (msgspec_v5), read but never modified: the harness
builds its own corrected copy at first use (see CORRECTIONS) and its own cached validators,
so importing this module changes nothing for anyone else using the library (KernelTests
included). A violation names the message type and the offending field, so a test fails on
the hop that mangled a message, not three steps later.
"""

from __future__ import annotations

import copy
import functools
import re
from typing import Any

from eg_harness.kernel.client import as_client_message
from jsonschema import Draft4Validator, ValidationError
from jupyter_kernel_test import msgspec_v5 as lib

# Where jupyter-kernel-test 0.7.0 disagrees with the messaging spec, and what the spec says.
# input_request.password: the library types it as a number; the spec (and every kernel) says
# boolean, so the library's schema would fail every correct kernel's password prompt.
# status.execution_state: the kernel says busy/idle/starting, but the Jupyter server relaying
# the channels adds its own status messages when its restarter acts: "restarting" and "dead"
# (jupyter_server services/kernels/handlers.py, _send_status_message; JupyterLab's
# Kernel.Status lists both), so every auto-restart would read as a violation.
CORRECTIONS: dict[str, dict[str, Any]] = {
    "input_request": {"password": {"type": "boolean"}},
    "status": {"execution_state": {"enum": ["busy", "idle", "starting", "restarting", "dead"]}},
}


@functools.cache
def _fragments() -> dict[str, Any]:
    fragments = copy.deepcopy(lib.schema_fragments)
    for msg_type, props in CORRECTIONS.items():
        fragments[msg_type]["properties"].update(props)
    return fragments


@functools.lru_cache(maxsize=256)
def _content_validator(msg_type: str, status: str | None, version_minor: int) -> Draft4Validator:
    """One compiled validator per shape: a flood of 10,000 outputs must not recompile it."""
    if status == "error":
        return lib.get_error_reply_validator(version_minor)
    if status == "abort":
        return lib.get_abort_reply_validator(version_minor)
    schema: dict[str, Any] = {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "object",
        "properties": {},
        "additionalProperties": version_minor > lib.protocol_version[1],
    }
    schema.update(_fragments()[msg_type])  # KeyError: a type the schemas do not cover
    schema.setdefault("required", sorted(schema["properties"]))
    return Draft4Validator(schema)


def validate(msg: dict[str, Any]) -> None:
    """msgspec_v5.validate_message's checks, against the corrected schemas."""
    lib.msg_structure_validator.validate(msg)
    found = re.match(r"(\d+)\.(\d+)", str(msg["header"]["version"]))
    if not found:
        raise ValidationError(f"version {msg['header']['version']!r} is not like 'x.y'")
    minor = int(found.group(2))
    msg_type = msg["header"]["msg_type"]
    if minor <= lib.protocol_version[1]:
        extra = set(msg) - set(lib.msg_schema["properties"])
        extra_header = set(msg["header"]) - set(lib.header_part["properties"])
        if extra or extra_header:
            raise ValidationError(f"unexpected keys: {sorted(extra | extra_header)}")
    status = None
    if msg_type in lib.reply_msgs_using_status:
        status = msg["content"].get("status")
        if status not in ("ok", "error", "abort"):
            raise ValidationError(f"status {status!r} should be ok/error/abort")
    _content_validator(msg_type, status, minor).validate(msg["content"])


def violation(frame: dict[str, Any]) -> str | None:
    """None if the message conforms (or has no schema), else what is wrong and where."""
    try:
        validate(as_client_message(frame))
    except KeyError as exc:  # a message type the schemas do not cover (e.g. comm_msg)
        if str(exc).strip("'") == (frame.get("header") or {}).get("msg_type"):
            return None
        return f"missing field {exc}"
    except ValidationError as exc:
        where = ".".join(str(p) for p in exc.absolute_path) or "(message)"
        kind = (frame.get("header") or {}).get("msg_type", "?")
        return f"{kind} on {frame.get('channel', '?')}: field {where}: {exc.message}"
    return None
