"""Every name taken from eg_harness is taken from its home (docs/architecture.md, "Layers"): the
module that defines it, or a package whose `__init__` lists it in `__all__` (a facade such as
eg_harness.targets). A module that only imports a name and is imported for it forwards it from
an old path: two homes for one record, and the next re-export starts there (targets/base.py
forwarded the endpoint records until every importer moved, cli/common.py the exit codes and
ConfigError). There are no exceptions. Every `from eg_harness... import`
under harness/, fixtures/, scenarios/, clusters/ and tests/ is read, in functions too. The
checker runs on a small synthetic tree as well, so a checker that sees nothing cannot pass.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The import names and their folders (pyproject.toml's package-dir).
ROOTS = {
    "eg_harness": REPO / "harness",
    "eg_harness.fixtures": REPO / "fixtures",
    "eg_harness.scenarios": REPO / "scenarios",
    "eg_harness.clusters": REPO / "clusters",
}
SCANNED = ("harness", "fixtures", "scenarios", "clusters", "tests")


def source_of(module: str, roots: dict[str, Path]) -> Path | None:
    """The file of `module` under `roots` (longest import-name prefix first), or None."""
    for prefix in sorted(roots, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            rest = module[len(prefix) :].lstrip(".")
            base = roots[prefix].joinpath(*rest.split(".")) if rest else roots[prefix]
            if base.with_suffix(".py").is_file():
                return base.with_suffix(".py")
            if (base / "__init__.py").is_file():
                return base / "__init__.py"
            return None
    return None


def homes_in(path: Path) -> set[str]:
    """The names `path` is a home for: what it binds at top level other than by importing
    (definitions, assignments, also under a top-level if/try), and, for a package's
    `__init__`, what its `__all__` lists."""
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    exported: set[str] = set()

    def bind(target: ast.AST) -> None:
        for node in ast.walk(target):
            if isinstance(node, ast.Name):
                names.add(node.id)

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    bind(target)
                is_all = any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
                if is_all and isinstance(node.value, (ast.List, ast.Tuple)):
                    exported.update(e.value for e in node.value.elts if isinstance(e, ast.Constant))
            elif isinstance(node, ast.AnnAssign):
                bind(node.target)
            elif isinstance(node, ast.If):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)

    visit(tree.body)
    return names | exported if path.name == "__init__.py" else names


def forwarded(files: list[Path], roots: dict[str, Path]) -> list[str]:
    """`file:line: from M import name` for each name M is no home for."""
    homes: dict[Path, set[str]] = {}
    found: list[str] = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                continue
            source = source_of(node.module, roots)
            if source is None:
                continue
            if source not in homes:
                homes[source] = homes_in(source)
            for alias in node.names:
                name = alias.name
                if name in homes[source]:
                    continue
                if source_of(f"{node.module}.{name}", roots) is not None:
                    continue  # a submodule
                where = path.relative_to(REPO) if path.is_relative_to(REPO) else path
                found.append(f"{where}:{node.lineno}: from {node.module} import {name}")
    return found


def _python_files() -> list[Path]:
    return sorted(
        p for d in SCANNED for p in (REPO / d).rglob("*.py") if "__pycache__" not in p.parts
    )


def test_every_name_is_imported_from_its_home():
    files = _python_files()
    assert len(files) > 300, "the scan found too few files to mean anything"
    found = forwarded(files, ROOTS)
    assert not found, "import these names from the module that defines them:\n" + "\n".join(found)


def test_base_forwards_no_endpoint_record():
    """targets/base.py is Target's home and nothing else's any more."""
    homes = homes_in(ROOTS["eg_harness"] / "targets" / "base.py")
    assert "Target" in homes
    assert not homes & {"GatewayEndpoint", "HubEndpoint", "KubernetesAccess", "SparkEndpoint"}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        "from pkg.sub.home import Record\n__all__ = ['Record']\n"  # a facade
    )
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "home.py").write_text(
        "class Record: ...\nLIMIT: int = 3\ntry:\n    FAST = True\nexcept ImportError:\n"
        "    FAST = False\n"
    )
    (pkg / "sub" / "old.py").write_text("from pkg.sub.home import LIMIT, Record\n")
    (pkg / "sub" / "user.py").write_text(
        "from pkg import Record\nfrom pkg.sub import home\n"
        "from pkg.sub.home import FAST, LIMIT\nfrom elsewhere import thing\n"
        "def f():\n    from pkg.sub.old import Record, LIMIT\n"
    )
    return tmp_path


def test_checker_finds_a_forwarded_name_in_a_synthetic_tree(tree: Path):
    roots = {"pkg": tree / "pkg"}
    files = sorted((tree / "pkg").rglob("*.py"))
    found = forwarded(files, roots)
    user = tree / "pkg" / "sub" / "user.py"
    assert found == [
        f"{user}:6: from pkg.sub.old import Record",
        f"{user}:6: from pkg.sub.old import LIMIT",
    ]
