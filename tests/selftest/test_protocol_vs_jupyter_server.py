"""Our framing against jupyter_server's own serializer, byte for byte, in both protocols.

jupyter_server cannot live in the harness's environment (the gateway pins it below 2), so its
serializer runs in the hub's component environment and hands its frames back as base64.
"""

from __future__ import annotations

import base64
import json
import subprocess

import pytest
from eg_harness import resources
from eg_harness.kernel.framing import decode_legacy, decode_v1, encode_legacy, encode_v1
from eg_harness.runtime import envs

# a module-scoped fixture, made once on one worker
pytestmark = pytest.mark.xdist_group("protocol")

SERIALIZE = r"""
import base64, json, sys
from jupyter_server.services.kernels.connection.base import (
    serialize_binary_message, serialize_msg_to_ws_v1, deserialize_msg_from_ws_v1,
    deserialize_binary_message)
from jupyter_client.session import json_packer

out = []
for m in json.load(sys.stdin):
    m["buffers"] = [base64.b64decode(b) for b in m["buffers"]]
    legacy = serialize_binary_message(dict(m))
    v1 = serialize_msg_to_ws_v1(
        [json_packer(m[k]) for k in ("header", "parent_header", "metadata", "content")]
        + m["buffers"], m["channel"])
    out.append({"legacy": base64.b64encode(legacy).decode(), "v1": base64.b64encode(v1).decode()})
json.dump(out, sys.stdout)
"""

MESSAGES = [
    {
        "header": {
            "msg_id": "a1",
            "msg_type": "comm_msg",
            "session": "s",
            "username": "u",
            "date": "2026-11-26T00:00:00+00:00",
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "content": {"comm_id": "c", "data": {"text": "héllo ✓"}},
        "channel": "shell",
        "buffers": bufs,
    }
    for bufs in ([b""], [b"\x00"], [bytes(range(256)) * 4096], [b"a", b"", b"bc"])
]


@pytest.fixture(scope="module")
def theirs():
    hub = envs.ensure_python_env("hub", resources.LOCAL_CLUSTER / "hub.lock", lambda _m: None)
    doc = [dict(m, buffers=[base64.b64encode(b).decode() for b in m["buffers"]]) for m in MESSAGES]
    proc = subprocess.run(
        [hub.python, "-c", SERIALIZE],
        input=json.dumps(doc),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [{k: base64.b64decode(v) for k, v in f.items()} for f in json.loads(proc.stdout)]


@pytest.mark.parametrize("i", range(len(MESSAGES)))
def test_legacy_binary_frames_match_jupyter_server(theirs, i):
    ours, _binary = encode_legacy(MESSAGES[i])
    assert ours == theirs[i]["legacy"]
    decoded = decode_legacy(theirs[i]["legacy"])
    assert decoded["buffers"] == MESSAGES[i]["buffers"]
    assert decoded["content"] == MESSAGES[i]["content"]


@pytest.mark.parametrize("i", range(len(MESSAGES)))
def test_v1_frames_match_jupyter_server(theirs, i):
    assert encode_v1(MESSAGES[i]) == theirs[i]["v1"]
    decoded = decode_v1(theirs[i]["v1"])
    assert decoded["buffers"] == MESSAGES[i]["buffers"]
    assert decoded["channel"] == "shell"
    for key in ("header", "parent_header", "metadata", "content"):
        assert decoded[key] == MESSAGES[i][key]
