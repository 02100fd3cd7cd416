"""Reading a hand-written YAML file safely: duplicate keys refused, ${VAR} references expanded.

Kept apart from the config model (config.py) because neither concern knows the other: the
loader does not know which keys exist, the model does not know where its values came from.
Nothing here quotes a value back, since a value may be a token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

# --- environment expansion -------------------------------------------------------------------

_REFERENCE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-((?:(?!\$\{).)*))?", re.DOTALL)
_FORMS = "write ${NAME} or ${NAME:-default}"


class Unset(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class Malformed(Exception):
    """Carries a message that never quotes the reference, since it may sit inside a token."""


def _substitute(text: str, environ: Mapping[str, str]) -> str:
    out: list[str] = []
    pos = 0
    while (start := text.find("${", pos)) >= 0:
        end = text.find("}", start + 2)
        if end < 0:
            raise Malformed(f"has an unterminated '${{' reference: {_FORMS}")
        match = _REFERENCE.fullmatch(text, start + 2, end)
        if match is None:
            raise Malformed(f"has a malformed '${{...}}' reference: {_FORMS}")
        name, default = match.group(1), match.group(2)
        value = environ.get(name)
        # Like the shell: ':-' also replaces a variable that is set but empty.
        if value is None or (value == "" and default is not None):
            if default is None:
                raise Unset(name)
            value = default
        out.append(text[pos:start])
        out.append(value)
        pos = end + 1
    out.append(text[pos:])
    return "".join(out)


def expand_tree(
    node: Any, environ: Mapping[str, str], loc: tuple, problems: list[tuple[tuple, Exception]]
) -> Any:
    # Expanding parsed scalars (not the raw text) keeps tokens with YAML-special characters safe.
    if isinstance(node, str):
        try:
            return _substitute(node, environ)
        except (Unset, Malformed) as exc:
            problems.append((loc, exc))
            return ""
    if isinstance(node, dict):
        return {k: expand_tree(v, environ, (*loc, k), problems) for k, v in node.items()}
    if isinstance(node, list):
        return [expand_tree(v, environ, (*loc, i), problems) for i, v in enumerate(node)]
    return node


# --- YAML --------------------------------------------------------------------------------------


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, which PyYAML otherwise resolves silently to the
    last one (two `auth_token:` lines would quietly send the wrong token)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: set = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:
                    continue  # unhashable: let the base class report it
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"found duplicate key {key!r}", key_node.start_mark
                    )
        return super().construct_mapping(node, deep=deep)


def yaml_problem(exc: yaml.YAMLError) -> str:
    # Only the short problem text: str(exc) quotes file lines, which may hold a token.
    if isinstance(exc, yaml.MarkedYAMLError):
        line = f" (line {exc.problem_mark.line + 1})" if exc.problem_mark else ""
        problem = exc.problem or exc.context or "unreadable YAML"
        return f"{line}: {' '.join(problem.split())}"
    if isinstance(exc, yaml.reader.ReaderError):
        return f": it is not UTF-8 text (bad byte at position {exc.position})"
    return f": {type(exc).__name__}"
