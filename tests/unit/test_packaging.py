"""pyproject.toml's package list against the folders: what a wheel would leave out.

The wheel is built from a package list kept by hand in pyproject.toml. A package folder missing
from it is missing from every installed harness (CI images, operators, the in-cluster Job)
while an editable install from a clone still finds it, so nothing else fails. The same holds for
non-Python files that the package-data patterns do not cover. The wheel itself is built,
installed and run from an empty directory in tests/selftest/test_packaged_run.py (minutes);
this is the seconds-long check of the list.
"""

from __future__ import annotations

import glob
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11")

SETUPTOOLS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
PACKAGE_DIR: dict[str, str] = SETUPTOOLS["package-dir"]
# Folders whose sub-folders are data, not packages: suites and cluster definitions travel as
# package data of their root package.
DATA_ROOTS = {"eg_harness.scenarios", "eg_harness.clusters"}


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts]


def _package_folders() -> set[str]:
    """Every folder with an __init__.py under a mapped root, by its import name."""
    found = set()
    for name, folder in PACKAGE_DIR.items():
        root = REPO / folder
        found.add(name)
        if name in DATA_ROOTS:
            continue
        for init in root.rglob("__init__.py"):
            rel = init.parent.relative_to(root)
            if rel.parts:
                found.add(".".join([name, *rel.parts]))
    return found


def _package_data(package: str, folder: Path, package_data: dict) -> set[Path]:
    """The files the package-data patterns take, globbed as setuptools globs them."""
    patterns = package_data.get(package, [])
    return {
        folder / hit
        for pattern in patterns
        for hit in glob.glob(pattern, root_dir=folder, recursive=True)
        if (folder / hit).is_file()
    }


def _folder(package: str) -> Path:
    root = max((n for n in PACKAGE_DIR if package == n or package.startswith(n + ".")), key=len)
    return REPO / PACKAGE_DIR[root] / Path(*package.split(".")[len(root.split(".")) :])


def test_every_package_folder_is_listed():
    listed = set(SETUPTOOLS["packages"])
    folders = _package_folders()
    assert not folders - listed, f"package folders missing from pyproject.toml: {folders - listed}"
    assert not listed - folders, f"pyproject.toml lists packages with no folder: {listed - folders}"


def _left_out(package_data: dict) -> list[str]:
    """Files of the listed packages that neither are modules nor match a package-data pattern."""
    left_out = []
    for package in SETUPTOOLS["packages"]:
        folder = _folder(package)
        if package in DATA_ROOTS:  # every file below, Python or not, is data of the root
            wanted = [p for p in _files(folder) if p.parent != folder or p.suffix != ".py"]
        else:  # its own non-Python files, and those of sub-folders that are not packages
            wanted = [
                p
                for p in _files(folder)
                if not (p.suffix == ".py" and p.parent == folder)
                and not any(
                    (folder / Path(*p.relative_to(folder).parts[: i + 1]) / "__init__.py").exists()
                    for i in range(len(p.relative_to(folder).parts) - 1)
                )
            ]
        taken = _package_data(package, folder, package_data)
        left_out += [f"{package}: {p.relative_to(folder)}" for p in wanted if p not in taken]
    return left_out


def test_every_file_of_a_package_travels_in_the_wheel():
    """Non-Python files of a package (templates, scenario notes, cluster definitions) match
    its package-data patterns, so the wheel carries them."""
    left_out = _left_out(SETUPTOOLS.get("package-data", {}))
    assert not left_out, f"files a wheel would leave out (add package-data patterns): {left_out}"


def test_a_missing_pattern_is_seen():
    """The check's negative twin: without the report's templates pattern they are named."""
    package_data = {**SETUPTOOLS["package-data"], "eg_harness.report": []}
    seen = set(_left_out(package_data)) - set(_left_out(SETUPTOOLS["package-data"]))
    assert "eg_harness.report: templates/report.html.j2" in seen
    assert all(f.startswith("eg_harness.report: templates/") for f in seen), seen
