"""The bad-input catalogue: every malformed request of the `abuse` suite, as data.

One record is one input: what it is, the layers it is sent to (straight at the gateway, and
through the hub: proxy -> gateway-mode user server -> gateway), the request or the frames, and
the class of answer a well-behaved server gives:
- "4xx": a clear refusal, a 4xx status without a traceback, within the bound;
- "contained": a WebSocket frame the server answers, ignores or closes the socket on, while the
  socket (or a new one) keeps working: never a socket left hanging;
- "held": a request that never finishes (a lying Content-Length, a head without its end); the
  server may wait for the rest or refuse it, but must keep serving everyone else meanwhile;
- "released": a socket dropped without a close frame; the server must let the connection go.

Where the system under test answers differently (a 500, a hang, a redirect), the record says so
in `known`, per layer, with the upstream code that causes it; the suite then expects the test
to fail (a strict xfail) so it flips when upstream fixes it. The expectation itself never
changes. A new input is one more record.

Placeholders in paths and bodies: {kernel} a live kernel of the test's own user, {missing} a
kernel id that does not exist, {spec} the target's kernelspec.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

KiB, MiB = 1024, 1024 * 1024
LAYERS = ("gateway", "hub")
EG, JS1, JS2 = "EG 3.3.0", "jupyter_server 1.24 (in EG)", "jupyter_server 2.21.1 (user server)"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Known(_Record):
    """An upstream defect this input meets on one layer; the test is a strict xfail."""

    observed: str  # what the server does instead of the expectation
    cause: str  # where upstream, and since when or why


class Frame(_Record):
    """One WebSocket frame a client writes; `message` is a patch over a kernel_info_request
    (a key set to None is removed), encoded as legacy JSON text or as a v1 binary frame."""

    opcode: int = 1
    data: str = ""  # the raw payload (latin-1), when not a message
    message: dict[str, Any] | None = None
    encode: Literal["legacy", "v1"] = "legacy"
    fin: bool = True
    masked: bool = True
    declared_length: int | None = None  # a length header that lies


class Case(_Record):
    id: str
    what: str  # the report's "input" column
    expect: Literal["4xx", "contained", "held", "released"]
    layers: tuple[str, ...] = LAYERS
    # REST: the request, sent exactly as written (no client library normalises it)
    method: str = "GET"
    path: str = ""
    body: Any = None  # sent as JSON
    raw_body: str | None = None  # sent as latin-1 bytes; "{fill}" becomes `fill` x's
    fill: int = 0
    headers: dict[str, str] = Field(default_factory=dict)
    declared_length: int | None = None  # a Content-Length that differs from the body
    raw_request: str | None = None  # the whole request; "{prefix}" is the layer's base path
    # WebSocket: frames on the channels of the test's own kernel, then a follow-up request
    offer: Literal["v1", "none", "bogus"] = "none"
    frames: tuple[Frame, ...] = ()
    after: Literal["probe", "drop"] = "probe"
    known: dict[str, Known] = Field(default_factory=dict)

    @property
    def websocket(self) -> bool:
        return bool(self.frames) or self.after == "drop"


def _gw_500(cause: str) -> Known:
    return Known(observed="500 with a traceback", cause=cause)


def _hub_500(cause: str) -> Known:
    return Known(observed="500", cause=cause)


NOT_AN_OBJECT = (
    f"{JS1} and {JS2} services/kernels/handlers.py MainKernelHandler.post calls "
    "model.setdefault() on whatever JSON the body holds (AttributeError)"
)
UNDECODABLE = (
    "jupyter_server base/handlers.py get_json_body decodes the body as UTF-8 outside its "
    "try (UnicodeDecodeError), in 1.24 and 2.21.1 alike"
)
EG_UNKNOWN_SPEC = (
    f"{EG}: the kernel manager raises jupyter_client's NoSuchKernel, which no handler turns "
    "into a 404 (REFERENCE: 'Unknown kernel name on start: 500 with NoSuchKernel')"
)
RELAYED_500 = (
    f"{JS2} gateway/gateway_client.py gateway_request relays the gateway's 500 as "
    "'Error from Gateway: [%s] %s' (unformatted)"
)
USER_FILTER = (
    f"{JS2} gateway/managers.py GatewayKernelSpecManager bakes '?user=KERNEL_USERNAME' into "
    "base_endpoint, then _get_kernelspecs_endpoint_url appends the name after the query "
    "(GET /api/kernelspecs?user=u/NAME): EG lists every spec, and the handler calls "
    "spec.to_dict()/resource_dir on that dict (AttributeError) for every name"
)
RESTART_CATCHES_ALL = (
    "jupyter_server services/kernels/handlers.py KernelActionHandler.post catches every "
    "exception of restart_kernel, the 404 of an unknown kernel included, and answers 500"
)
SESSIONS_NOT_OBJECT = (
    "jupyter_server services/sessions/handlers.py SessionRootHandler.post indexes the body "
    "as a dict (TypeError on a list)"
)

HEAD_LIMIT = (
    "tornado 6.6.1 http1connection.py _server_request_loop returns silently on "
    "UnsatisfiableReadError (a head over max_header_size, 64 KiB) instead of answering 431"
)
RELAY_DROPS = (
    f"{EG} drops the relay's socket on this frame (the gateway row: closed); {JS2} "
    "gateway/connections.py _read_messages then reconnects after gateway_retry_interval "
    "without telling the client, and _write_message drops what the client sends meanwhile "
    "(EG #953): the client's socket stays open and its request is never answered"
)

KI = {"header": None}  # a message patch; see Frame

CATALOGUE: tuple[Case, ...] = (
    # -- kernel start: the body ------------------------------------------------------------
    Case(
        id="start-json-invalid",
        what="start: body is not JSON",
        expect="4xx",
        method="POST",
        path="/api/kernels",
        raw_body='{"name": "python3",',
    ),
    Case(
        id="start-json-array",
        what="start: body is a JSON array",
        expect="4xx",
        method="POST",
        path="/api/kernels",
        body=["python3"],
        known={"gateway": _gw_500(NOT_AN_OBJECT), "hub": _hub_500(NOT_AN_OBJECT)},
    ),
    Case(
        id="start-json-number",
        what="start: body is a JSON number",
        expect="4xx",
        method="POST",
        path="/api/kernels",
        body=5,
        known={"gateway": _gw_500(NOT_AN_OBJECT), "hub": _hub_500(NOT_AN_OBJECT)},
    ),
    Case(
        id="start-not-utf8",
        what="start: body is not UTF-8",
        expect="4xx",
        method="POST",
        path="/api/kernels",
        raw_body='\xff\xfe{"name": 1}',
        known={"gateway": _gw_500(UNDECODABLE), "hub": _hub_500(UNDECODABLE)},
    ),
    Case(
        id="start-name-int",
        what="start: kernel name is a number",
        expect="4xx",
        method="POST",
        path="/api/kernels",
        body={"name": 5},
        known={
            "gateway": _gw_500(
                f"{EG} passes the name to RemoteKernelManager.kernel_name, a "
                "Unicode trait (TraitError)"
            ),
            "hub": _hub_500(RELAYED_500),
        },
    ),
    Case(
        id="start-name-unknown",
        what="start: unknown kernelspec",
        expect="4xx",
        method="POST",
        path="/api/kernels",
        body={"name": "no-such-kernelspec"},
        known={"gateway": _gw_500(EG_UNKNOWN_SPEC), "hub": _hub_500(RELAYED_500)},
    ),
    Case(
        id="start-name-traversal",
        what="start: kernelspec name '../../etc'",
        expect="4xx",
        method="POST",
        path="/api/kernels",
        body={"name": "../../../etc"},
        known={"gateway": _gw_500(EG_UNKNOWN_SPEC), "hub": _hub_500(RELAYED_500)},
    ),
    Case(
        id="start-name-huge",
        what="start: 1 MiB kernelspec name",
        expect="4xx",
        method="POST",
        path="/api/kernels",
        raw_body='{"name": "{fill}"}',
        fill=MiB,
        known={"gateway": _gw_500(EG_UNKNOWN_SPEC), "hub": _hub_500(RELAYED_500)},
    ),
    Case(
        id="start-path-int",
        what="start: path is a number",
        expect="4xx",
        method="POST",
        path="/api/kernels",
        body={"name": "{spec}", "path": 5, "env": {"KERNEL_USERNAME": "egh-abuse"}},
        known={
            "gateway": _gw_500(f"{JS1} utils.to_os_path calls path.strip() (AttributeError)"),
            "hub": Known(
                observed="201: a kernel is started",
                cause=f"{JS2} utils.to_os_path coerces any value with str(path), so "
                "a number is a working directory",
            ),
        },
    ),
    # -- kernel start: env (only the gateway takes env from the client) ----------------------
    Case(
        id="env-list",
        what="env is a list",
        expect="4xx",
        layers=("gateway",),
        method="POST",
        path="/api/kernels",
        body={"name": "{spec}", "env": ["KERNEL_X"]},
    ),
    Case(
        id="env-string",
        what="env is a string",
        expect="4xx",
        layers=("gateway",),
        method="POST",
        path="/api/kernels",
        body={"name": "{spec}", "env": "KERNEL_X=1"},
    ),
    Case(
        id="env-value-int",
        what="env value is a number",
        expect="4xx",
        layers=("gateway",),
        method="POST",
        path="/api/kernels",
        body={"name": "{spec}", "env": {"KERNEL_USERNAME": "egh-abuse", "KERNEL_X": 5}},
    ),
    Case(
        id="env-value-null",
        what="env value is null",
        expect="4xx",
        layers=("gateway",),
        method="POST",
        path="/api/kernels",
        body={"name": "{spec}", "env": {"KERNEL_USERNAME": "egh-abuse", "KERNEL_X": None}},
    ),
    Case(
        id="env-value-object",
        what="env value is an object",
        expect="4xx",
        layers=("gateway",),
        method="POST",
        path="/api/kernels",
        body={"name": "{spec}", "env": {"KERNEL_USERNAME": "egh-abuse", "KERNEL_X": {"a": 1}}},
    ),
    Case(
        id="env-username-int",
        what="KERNEL_USERNAME is a number",
        expect="4xx",
        layers=("gateway",),
        method="POST",
        path="/api/kernels",
        body={"name": "{spec}", "env": {"KERNEL_USERNAME": 0}},
    ),
    Case(
        id="env-value-4097",
        what="env value of 4097 characters",
        expect="4xx",
        layers=("gateway",),
        method="POST",
        path="/api/kernels",
        raw_body='{"name": "python3", "env": {"KERNEL_USERNAME": "egh-abuse", '
        '"KERNEL_X": "{fill}"}}',
        fill=4097,
    ),
    Case(
        id="env-value-20mib",
        what="20 MiB body (one env value)",
        expect="4xx",
        layers=("gateway",),
        method="POST",
        path="/api/kernels",
        raw_body='{"name": "python3", "env": {"KERNEL_USERNAME": "egh-abuse", '
        '"KERNEL_X": "{fill}"}}',
        fill=20 * MiB,
    ),
    # -- kernel ids and actions -----------------------------------------------------------
    Case(
        id="id-not-uuid",
        what="kernel id that is not a UUID",
        expect="4xx",
        path="/api/kernels/not-a-kernel-id",
    ),
    Case(
        id="id-missing",
        what="kernel id that does not exist",
        expect="4xx",
        path="/api/kernels/{missing}",
    ),
    Case(
        id="id-traversal",
        what="kernel id '..%2f..%2fapi'",
        expect="4xx",
        path="/api/kernels/..%2f..%2fapi",
    ),
    Case(
        id="id-nul", what="kernel id with a NUL byte (%00)", expect="4xx", path="/api/kernels/%00"
    ),
    Case(
        id="delete-missing",
        what="delete a kernel that does not exist",
        expect="4xx",
        method="DELETE",
        path="/api/kernels/{missing}",
    ),
    Case(
        id="interrupt-missing",
        what="interrupt a kernel that does not exist",
        expect="4xx",
        method="POST",
        path="/api/kernels/{missing}/interrupt",
    ),
    Case(
        id="restart-missing",
        what="restart a kernel that does not exist",
        expect="4xx",
        method="POST",
        path="/api/kernels/{missing}/restart",
        known={"gateway": _gw_500(RESTART_CATCHES_ALL), "hub": _hub_500(RESTART_CATCHES_ALL)},
    ),
    Case(
        id="action-unknown",
        what="unknown kernel action",
        expect="4xx",
        method="POST",
        path="/api/kernels/{kernel}/explode",
    ),
    # -- methods --------------------------------------------------------------------------
    Case(
        id="method-patch",
        what="PATCH /api/kernels",
        expect="4xx",
        method="PATCH",
        path="/api/kernels",
        body={},
    ),
    Case(
        id="method-put-kernel",
        what="PUT a kernel",
        expect="4xx",
        method="PUT",
        path="/api/kernels/{kernel}",
        body={},
    ),
    Case(
        id="method-unknown",
        what="method FROBNICATE",
        expect="4xx",
        method="FROBNICATE",
        path="/api/kernels",
    ),
    Case(
        id="method-delete-specs",
        what="DELETE /api/kernelspecs",
        expect="4xx",
        method="DELETE",
        path="/api/kernelspecs",
    ),
    Case(
        id="method-post-spec",
        what="POST a kernelspec",
        expect="4xx",
        method="POST",
        path="/api/kernelspecs/{spec}",
        body={},
    ),
    Case(
        id="endpoint-unknown",
        what="unknown endpoint /api/frobnicate",
        expect="4xx",
        path="/api/frobnicate",
    ),
    # -- kernelspecs and their resources -------------------------------------------------
    Case(
        id="spec-unknown",
        what="GET an unknown kernelspec",
        expect="4xx",
        path="/api/kernelspecs/no-such-kernelspec",
        known={"hub": _hub_500(USER_FILTER)},
    ),
    Case(
        id="resource-unknown-spec",
        what="resource of an unknown kernelspec",
        expect="4xx",
        path="/kernelspecs/no-such-kernelspec/logo-64x64.png",
        known={"hub": Known(observed="500 (HTML page)", cause=USER_FILTER)},
    ),
    Case(
        id="resource-missing",
        what="missing resource of a kernelspec",
        expect="4xx",
        path="/kernelspecs/{spec}/no-such-file.png",
        known={"hub": Known(observed="500 (HTML page)", cause=USER_FILTER)},
    ),
    Case(
        id="traversal-literal",
        what="resource path '../../../../etc/passwd'",
        expect="4xx",
        path="/kernelspecs/{spec}/../../../../../../etc/passwd",
        known={
            "hub": Known(
                observed="302 redirect to /hub/...: the request left the user's prefix",
                cause="configurable-http-proxy 5.3.0 lib/configproxy.js targetForReq routes on "
                "new URL(req.url).pathname, which resolves dot segments, so the request "
                "is routed to the hub (no file is served)",
            )
        },
    ),
    Case(
        id="traversal-dot-encoded",
        what="resource path '%2e%2e/' x4 + etc/passwd",
        expect="4xx",
        path="/kernelspecs/{spec}/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        known={
            "hub": Known(
                observed="302 redirect to /hub/...: the request left the user's prefix",
                cause="configurable-http-proxy 5.3.0 lib/configproxy.js targetForReq routes on "
                "new URL(req.url).pathname; WHATWG URL parsing treats %2e%2e as '..', so "
                "the request is routed to the hub (no file is served)",
            )
        },
    ),
    Case(
        id="traversal-slash-encoded",
        what="resource path '..%2f' x4 + etc%2fpasswd",
        expect="4xx",
        path="/kernelspecs/{spec}/..%2f..%2f..%2f..%2fetc%2fpasswd",
    ),
    Case(
        id="traversal-absolute",
        what="resource path '%2fetc%2fpasswd'",
        expect="4xx",
        path="/kernelspecs/{spec}/%2fetc%2fpasswd",
        known={"hub": Known(observed="500 (HTML page)", cause=USER_FILTER)},
    ),
    Case(
        id="traversal-in-name",
        what="kernelspec name '..%2F..%2F..%2Fetc'",
        expect="4xx",
        path="/kernelspecs/..%2F..%2F..%2Fetc/passwd",
        known={"hub": Known(observed="500 (HTML page)", cause=USER_FILTER)},
    ),
    Case(
        id="traversal-backslash",
        what="resource path '..%5c..%5c..%5cetc%5cpasswd'",
        expect="4xx",
        path="/kernelspecs/{spec}/..%5c..%5c..%5cetc%5cpasswd",
        known={"hub": Known(observed="500 (HTML page)", cause=USER_FILTER)},
    ),
    # -- sessions -------------------------------------------------------------------------
    Case(
        id="session-json-invalid",
        what="session: body is not JSON",
        expect="4xx",
        method="POST",
        path="/api/sessions",
        raw_body='{"path": ',
    ),
    Case(
        id="session-array",
        what="session: body is a JSON array",
        expect="4xx",
        method="POST",
        path="/api/sessions",
        body=[{"path": "a.ipynb"}],
        known={"gateway": _gw_500(SESSIONS_NOT_OBJECT), "hub": _hub_500(SESSIONS_NOT_OBJECT)},
    ),
    Case(
        id="session-no-path",
        what="session without a path",
        expect="4xx",
        method="POST",
        path="/api/sessions",
        body={"type": "notebook", "kernel": {}},
    ),
    Case(
        id="session-unknown-spec",
        what="session with an unknown kernelspec",
        expect="4xx",
        method="POST",
        path="/api/sessions",
        body={"path": "a.ipynb", "type": "notebook", "kernel": {"name": "no-such-kernelspec"}},
        known={
            "gateway": Known(
                observed="501 Not Implemented",
                cause=f"{JS1} services/sessions/handlers.py answers NoSuchKernel with 501",
            ),
            "hub": _hub_500(RELAYED_500 + " (the session manager re-raises it as 500)"),
        },
    ),
    # -- HTTP framing ---------------------------------------------------------------------
    Case(
        id="http-long-query",
        what="40 KiB query string",
        expect="4xx",
        path="/api/kernels?" + "a=1&" * (10 * KiB),
    ),
    Case(
        id="http-long-header",
        what="20 KiB header (over the proxy's 16 KiB)",
        expect="4xx",
        layers=("hub",),
        path="/api",
        headers={"X-Junk": "j" * (20 * KiB)},
    ),
    Case(
        id="http-line-over-64k",
        what="request line over 64 KiB",
        expect="4xx",
        layers=("gateway",),
        path="/api/kernelspecs/" + "a" * (100 * KiB),
        known={"gateway": Known(observed="connection closed without an answer", cause=HEAD_LIMIT)},
    ),
    Case(
        id="http-bad-chunked",
        what="chunked body with a bad chunk size",
        expect="4xx",
        raw_request="POST {prefix}/api/kernels HTTP/1.1\r\nHost: x\r\n{auth}"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    ),
    Case(
        id="http-bad-version",
        what="HTTP/9.9 request line",
        expect="4xx",
        raw_request="GET {prefix}/api HTTP/9.9\r\nHost: x\r\n{auth}Connection: close\r\n\r\n",
    ),
    Case(
        id="http-garbage-line",
        what="request line that is not HTTP",
        expect="4xx",
        raw_request="\x16\x03\x01 hello there\r\n\r\n",
    ),
    Case(
        id="http-body-short",
        what="Content-Length 1 KiB, 10 bytes sent",
        expect="held",
        method="POST",
        path="/api/kernels",
        raw_body='{"name": "',
        declared_length=KiB,
    ),
    Case(
        id="http-body-1gib",
        what="Content-Length 1 GiB, nothing sent",
        expect="held",
        method="POST",
        path="/api/kernels",
        raw_body="",
        declared_length=1024 * MiB,
    ),
    Case(
        id="http-head-unfinished",
        what="request head never finished",
        expect="held",
        raw_request="GET {prefix}/api HTTP/1.1\r\nHost: x\r\n{auth}X-Slow: 1",
    ),
    # -- WebSocket handshakes -------------------------------------------------------------
    Case(
        id="ws-no-upgrade",
        what="channels without Upgrade headers",
        expect="4xx",
        path="/api/kernels/{kernel}/channels",
    ),
    Case(
        id="ws-bad-version",
        what="channels with Sec-WebSocket-Version 99",
        expect="4xx",
        path="/api/kernels/{kernel}/channels",
        headers={
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "99",
        },
    ),
    Case(
        id="ws-missing-kernel",
        what="channels of a kernel that does not exist",
        expect="4xx",
        path="/api/kernels/{missing}/channels",
        headers={
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
        },
    ),
    Case(
        id="ws-post",
        what="POST to channels",
        expect="4xx",
        method="POST",
        path="/api/kernels/{kernel}/channels",
        body={},
    ),
    # -- WebSocket frames on a live socket ------------------------------------------------
    Case(
        id="ws-text-not-json",
        what="legacy: text frame that is not JSON",
        expect="contained",
        frames=(Frame(data="{this is not json"),),
        known={"hub": Known(observed="the socket hangs", cause=RELAY_DROPS)},
    ),
    Case(
        id="ws-binary-garbage",
        what="legacy: binary frame of garbage",
        expect="contained",
        frames=(Frame(opcode=2, data="\x00\x00\x00\x07garbage!"),),
        known={"hub": Known(observed="the socket hangs", cause=RELAY_DROPS)},
    ),
    Case(
        id="ws-text-not-utf8",
        what="text frame that is not UTF-8",
        expect="contained",
        frames=(Frame(data="\xff\xfe\xfd"),),
    ),
    Case(
        id="ws-json-array",
        what="legacy: JSON array",
        expect="contained",
        frames=(Frame(data='["shell", {}]'),),
        known={"hub": Known(observed="the socket hangs", cause=RELAY_DROPS)},
    ),
    Case(
        id="ws-no-header",
        what="message without a header",
        expect="contained",
        frames=(Frame(message=KI),),
        known={"hub": Known(observed="the socket hangs", cause=RELAY_DROPS)},
    ),
    Case(
        id="ws-msg-type-unknown",
        what="message of an unknown type",
        expect="contained",
        frames=(Frame(message={"header": {"msg_type": "frobnicate_request"}}),),
    ),
    Case(
        id="ws-channel-int",
        what="channel is a number",
        expect="contained",
        frames=(Frame(message={"channel": 7}),),
    ),
    Case(
        id="ws-channel-iopub",
        what="request sent on iopub (wrong direction)",
        expect="contained",
        frames=(Frame(message={"channel": "iopub"}),),
    ),
    Case(
        id="ws-stdin-unasked",
        what="input_reply nobody asked for",
        expect="contained",
        frames=(
            Frame(
                message={
                    "channel": "stdin",
                    "header": {"msg_type": "input_reply"},
                    "content": {"value": "x"},
                }
            ),
        ),
    ),
    Case(
        id="ws-content-string",
        what="content is a string",
        expect="contained",
        frames=(Frame(message={"content": "not an object"}),),
    ),
    Case(
        id="ws-v1-on-legacy",
        what="v1 binary frame on a legacy socket",
        expect="contained",
        frames=(Frame(message={}, encode="v1"),),
        known={"hub": Known(observed="the socket hangs", cause=RELAY_DROPS)},
    ),
    Case(
        id="ws-legacy-on-v1",
        what="legacy text frame on a socket offered v1",
        expect="contained",
        offer="v1",
        frames=(Frame(message={}),),
    ),
    Case(
        id="ws-offer-unknown",
        what="only an unknown subprotocol offered",
        expect="contained",
        offer="bogus",
        frames=(Frame(message={}),),
    ),
    Case(
        id="ws-unmasked",
        what="unmasked client frame (RFC 6455 violation)",
        expect="contained",
        frames=(Frame(message={}, masked=False),),
    ),
    Case(
        id="ws-reserved-opcode",
        what="frame with reserved opcode 0x3",
        expect="contained",
        frames=(Frame(opcode=3, data="x"),),
    ),
    Case(
        id="ws-ping-oversized",
        what="ping of 200 bytes (control frames <= 125)",
        expect="contained",
        frames=(Frame(opcode=9, data="p" * 200),),
    ),
    Case(
        id="ws-close-bad-code",
        what="close frame with code 999",
        expect="contained",
        frames=(Frame(opcode=8, data="\x03\xe7bye"),),
    ),
    Case(
        id="ws-declared-huge",
        what="frame declaring 4 GiB, 10 bytes sent",
        expect="contained",
        frames=(Frame(opcode=1, data="0123456789", declared_length=4 * 1024 * MiB),),
    ),
    Case(
        id="ws-fragment-unfinished",
        what="first fragment of a message, never finished",
        expect="contained",
        frames=(Frame(data='{"channel": "shell"', fin=False),),
    ),
    Case(
        id="ws-drop-without-close",
        what="TCP dropped without a close frame",
        expect="released",
        after="drop",
    ),
)
CASES: dict[str, Case] = {c.id: c for c in CATALOGUE}


def items() -> list[tuple[Case, str]]:
    """Every (case, layer) the suite runs: one parametrised test each."""
    return [(c, layer) for c in CATALOGUE for layer in c.layers]
