"""pytest imports test modules by basename (no packages here): two files of one name in
tests/unit and tests/selftest make `pytest tests` error with "import file mismatch"."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_no_two_test_files_share_a_name():
    names: dict[str, list[str]] = {}
    for path in TESTS.rglob("test_*.py"):
        names.setdefault(path.name, []).append(str(path.relative_to(TESTS)))
    assert not {n: p for n, p in names.items() if len(p) > 1}
