"""Each consumer's own grammar for a value a profile puts into a kernel's environment.

A KERNEL_* value travels to several parsers (EG's launchers write it into the kernel pod's
resources and into Spark confs), and each has its own rules; a value is safe only when every
consumer takes it. The rules are written from the consumers' sources:

- Kubernetes quantities: apimachinery pkg/api/resource/quantity.go (the grammar in its doc
  comment, `splitRE = ^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$` then the suffixer): "1g",
  "2GB" and "1 Gi" are refused, "1G", "1Gi", "500m", "1e3" taken; resource requests must not be
  negative (core validation).
- Spark byte sizes: JavaUtils.byteStringAs (`([0-9]+)([a-z]+)?` on the trimmed, lower-cased text;
  suffixes b, k/kb, m/mb, g/gb, t/tb, p/pb; "Fractional values are not supported"); a bare number
  is in the entry's default unit (spark.driver.memory: MiB).
- Spark ints: ConfigBuilder.intConf, Scala's `_.trim.toInt` (Integer.parseInt: an optional sign,
  decimal digits, within 32 bits).
- Spark strings that Spark hands to Kubernetes as quantities (spark.kubernetes.*.limit.cores,
  *.request.cores): stringConf, then the Kubernetes quantity grammar.
- A word of spark-submit's command line: EG's run.sh `eval`s SPARK_OPTS with the resource
  options unquoted, so whitespace splits the value and shell syntax is evaluated.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

_K8S = re.compile(
    r"^(?P<num>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_DECIMAL |= {"P": 10**15, "E": 10**18}
_SPARK_BYTES = re.compile(r"^([0-9]+)([a-z]+)?$")
_SPARK_FRACTION = re.compile(r"^([0-9]+\.[0-9]+)([a-z]+)?$")
_SPARK_UNITS = {"b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40, "p": 2**50}
_SPARK_SUFFIXES = {s: _SPARK_UNITS[s[0]] for s in ("b", "k", "kb", "m", "mb", "g", "gb")}
_SPARK_SUFFIXES |= {s: _SPARK_UNITS[s[0]] for s in ("t", "tb", "p", "pb")}
_SHELL_SPECIAL = set(" \t\n'\"\\$`;&|<>()*?[]{}#~!")


class Rejected(ValueError):
    """The consumer refuses the value; the message is the consumer's reason."""


def k8s_quantity(text: str) -> Decimal:
    """The value of a Kubernetes quantity, as resource.ParseQuantity reads it."""
    m = _K8S.match(text)
    if not m:
        raise Rejected(
            f"{text!r} is not a Kubernetes quantity (units: Ki Mi Gi Ti Pi Ei, or m k M G T P E, "
            "case-sensitive; e.g. 1Gi or 1G, never 1g or 1GB)"
        )
    try:
        num = Decimal(m.group("num"))
    except InvalidOperation:
        raise Rejected(f"{text!r}: the number does not parse") from None
    suffix = m.group("suffix") or ""
    if suffix in _BINARY:
        return num * _BINARY[suffix]
    if suffix in _DECIMAL:
        return num * Decimal(_DECIMAL[suffix])
    if suffix:
        return num * (Decimal(10) ** int(suffix[1:]))
    return num


def k8s_resource(text: str) -> Decimal:
    """A pod's resource request or limit: a quantity that is not negative."""
    value = k8s_quantity(text)
    if value < 0:
        raise Rejected(f"{text!r}: a resource quantity must not be negative")
    return value


def spark_bytes(text: str, default_unit: int = 2**20) -> int:
    """Bytes of a Spark size entry (bytesConf), default unit MiB as spark.driver.memory's."""
    lower = text.strip().lower()
    m = _SPARK_BYTES.match(lower)
    if not m:
        if _SPARK_FRACTION.match(lower):
            raise Rejected(f"{text!r}: Spark size: fractional values are not supported")
        raise Rejected(
            f"{text!r} is not a Spark size (digits and one of b, k, m, g, t, p, optionally "
            "followed by b; e.g. 512m or 2g, never 2Gi)"
        )
    suffix = m.group(2)
    if suffix is None:
        return int(m.group(1)) * default_unit
    if suffix not in _SPARK_SUFFIXES:
        raise Rejected(f"{text!r}: Spark size: invalid suffix {suffix!r}")
    return int(m.group(1)) * _SPARK_SUFFIXES[suffix]


def spark_int(text: str) -> int:
    """A Spark int entry (intConf: trimmed, then Integer.parseInt)."""
    t = text.strip()
    if not re.fullmatch(r"[+-]?[0-9]+", t) or not -(2**31) <= int(t) < 2**31:
        raise Rejected(f"{text!r} is not an integer, as Spark's int entries require")
    return int(t)


def shell_word(text: str) -> str:
    """One word of the spark-submit command line EG's run.sh builds and `eval`s."""
    bad = sorted({c for c in text if c in _SHELL_SPECIAL})
    if not text or bad:
        raise Rejected(
            f"{text!r} is not one plain shell word (run.sh evals SPARK_OPTS unquoted: "
            f"{' '.join(repr(c) for c in bad) or 'empty'} would split or run)"
        )
    return text


@dataclass(frozen=True)
class Consumer:
    """One place a KERNEL_* value goes, and the grammar that place applies."""

    name: str  # e.g. "kernel pod resources.requests.memory" or "spark.driver.memory"
    source: str  # the EG file the mapping was read from
    parse: Callable[[str], object]
    applies_to: tuple[str, ...] = ()  # the kernelspecs whose launch takes this path

    def describe(self) -> str:
        return f"{self.name} ({', '.join(self.applies_to)})" if self.applies_to else self.name

    def rejects(self, value: str) -> str | None:
        """None when the consumer takes the value; else its reason."""
        try:
            self.parse(value)
        except Rejected as exc:
            return str(exc)
        return None
