"""Unit tests for harness.secrets: the token registry and redaction.

The registry is module-global, so every test uses its own random values and never asserts
on the registry as a whole, only on what it registered itself.
"""

from __future__ import annotations

import secrets as stdlib_secrets
import string

import pytest
from eg_harness.runtime import secrets as s
from eg_harness.runtime.secrets import REDACTED


def _tok(nbytes: int = 16) -> str:
    return "tk" + stdlib_secrets.token_hex(nbytes)


def _short(n: int) -> str:
    # Letters that cannot be hex, so no registered hex token can contain them.
    return "".join(stdlib_secrets.choice("ghijklmnopqrstuvwxyz") for _ in range(n))


# -- registry ----------------------------------------------------------------------------


def test_new_token_is_fresh_and_registered():
    a, b = s.new_token(), s.new_token()
    assert a != b
    assert len(a) == 48 and set(a) <= set(string.hexdigits.lower())
    assert a in s.known() and b in s.known()
    assert s.redact(f"x{a}y") == f"x{REDACTED}y"


def test_short_values_and_empties_are_not_registered():
    five = _short(5)
    six = _short(6)
    s.register(five, None, "", six)
    known = s.known()
    assert five not in known
    assert six in known
    assert None not in known and "" not in known
    assert s.redact(f"a {five} b") == f"a {five} b"
    assert s.redact(f"a {six} b") == f"a {REDACTED} b"


def test_redact_in_free_text():
    tok = _tok()
    s.register(tok)
    text = f"kernel started; token was {tok}, again: {tok}."
    out = s.redact(text)
    assert tok not in out
    assert out == f"kernel started; token was {REDACTED}, again: {REDACTED}."


def test_regex_metacharacters_in_a_secret_are_literal():
    odd = f"p.ss+w(rd)|{_short(6)}*"
    s.register(odd)
    assert s.redact(f"[{odd}]") == f"[{REDACTED}]"
    # '.' must not match any character: a near-miss stays.
    near = odd.replace(".", "X", 1)
    assert s.redact(near) == near


def test_unknown_values_untouched():
    text = f"nothing secret here: {_short(20)} ?page=2 Authorization: Basic"
    assert s.redact(text) == text
    assert s.redact("") == ""


# -- generic patterns (values the harness never registered) --------------------------------


def test_registered_token_in_a_url_query():
    tok = _tok()
    s.register(tok)
    url = f"ws://127.0.0.1:8888/api/kernels/k/channels?session_id=abc&token={tok}"
    assert s.redact(url) == url.replace(tok, REDACTED)


@pytest.mark.parametrize("sep", ["?", "&"])
def test_unregistered_token_in_a_url_query(sep):
    tok = _tok(12)  # never registered
    assert tok not in s.known()
    url = f"http://hub:8000/user/alice/api/kernels{sep}token={tok}&next=%2Ftree"
    out = s.redact(url)
    assert tok not in out
    assert out == f"http://hub:8000/user/alice/api/kernels{sep}token={REDACTED}&next=%2Ftree"


@pytest.mark.parametrize(
    "prefix",
    ["Authorization: token ", "authorization: Bearer ", "AUTHORIZATION:TOKEN   "],
)
def test_unregistered_token_in_an_authorization_header(prefix):
    tok = _tok(12)
    line = f"> {prefix}{tok}\r\n> Host: x"
    out = s.redact(line)
    assert tok not in out
    assert out == f"> {prefix}{REDACTED}\r\n> Host: x"


def test_unregistered_auth_token_assignment():
    tok = _tok(12)
    for text in (f"auth_token={tok}", f"'auth_token': '{tok}'", f'"auth_token": "{tok}"'):
        assert tok not in s.redact(text), text


def test_unregistered_credential_named_environment_variable():
    """A user server logs its environment with the hub's API token in it, a token the
    harness never saw (seen in the browser suite's diagnostics)."""
    tok = _tok(12)
    for text in (
        f"'JUPYTERHUB_API_TOKEN': '{tok}'",
        f"JUPYTERHUB_API_TOKEN={tok}",
        f'"CONFIGPROXY_AUTH_TOKEN": "{tok}"',
        f"JPY_COOKIE_SECRET={tok}",
        f"DB_PASSWORD: {tok}",
    ):
        out = s.redact(text)
        assert tok not in out, text
        assert REDACTED in out, text
    # A name that is not a credential keeps its value.
    assert s.redact(f"KERNEL_USERNAME={tok}") == f"KERNEL_USERNAME={tok}"


def test_generic_pattern_needs_eight_characters():
    # Short query values are not token-looking (e.g. ?token=abc in an error about a bad token).
    assert s.redact("?token=abc1234") == "?token=abc1234"
    assert s.redact("?token=abc12345") == f"?token={REDACTED}"


# -- longest first ---------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["short-first", "long-first"])
def test_longest_secret_wins_when_one_is_a_prefix_of_another(order):
    short = _tok(6)
    long = short + "SUFFIX" + _short(8)
    if order == "short-first":
        s.register(short)
        s.register(long)
    else:
        s.register(long, short)
    assert s.redact(long) == REDACTED
    assert s.redact(f"[{long}] [{short}]") == f"[{REDACTED}] [{REDACTED}]"
    assert "SUFFIX" not in s.redact(f"{long}")
