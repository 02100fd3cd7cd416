"""Who may import whom in eg_harness (docs/architecture.md, "Layers"): every import of every
module under harness/, at module level, in a function or under TYPE_CHECKING alike, mapped to
its package; an import from a lower layer to a higher one fails, and so does any import cycle
between packages (also within one layer). The checker runs on a small synthetic tree too, so a
checker that sees nothing cannot pass for a clean tree.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[2] / "harness"
PACKAGE = "eg_harness"

# Lowest first. A unit is a package under harness/ (or a top-level module); a few are finer
# than a folder because the code needs them to be: the results model with its verdict (every
# producer writes it, the checks judge its records, the renderers read it), and the target
# providers (the audit reads kind's pins and values; the node provider uses the audit's helm).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("", "errors"),  # "": the package's own __init__ (its version)
    ("resources", "runtime", "stats", "suites", "report.model"),
    ("kernel", "clients", "abuse"),
    ("checks",),
    ("targets", "targets.existing", "targets.kind", "targets.local"),
    ("audit", "k8s"),
    ("targets.node",),
    ("report",),
    ("load", "upgrade", "browser"),
    ("fixtures",),  # the pytest plugin (fixtures/, not scanned here): `eg-harness run` loads it
    ("cli", "__main__"),
)
# Modules that belong to a unit other than their folder's.
ALIASES = {"report.verdict": "report.model", "report.bench_results": "report.model"}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(root: Path, package: str) -> dict[str, set[str]]:
    """Module (relative to the package) -> the package's modules it imports, anywhere in it."""
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    out: dict[str, set[str]] = {}
    for mod, path in files.items():
        is_pkg = path.name == "__init__.py"
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    here = mod.split(".") if mod else []
                    base = here if is_pkg else here[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    absolute = ".".join([package, *base, *([node.module] if node.module else [])])
                else:
                    absolute = node.module or ""
                # `from pkg import mod` imports the module; `from pkg import name`, the package.
                names = [
                    f"{absolute}.{a.name}"
                    if f"{absolute}.{a.name}".removeprefix(package).lstrip(".") in files
                    else absolute
                    for a in node.names
                ]
            else:
                continue
            for name in names:
                if name == package or name.startswith(package + "."):
                    found.add(name.removeprefix(package).lstrip("."))
        out[mod] = found
    return out


def unit_of(mod: str, units: set[str], aliases: dict[str, str]) -> str:
    parts = mod.split(".") if mod else []
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in aliases:
            return aliases[prefix]
        if prefix in units:
            return prefix
    if not parts and "" in units:
        return ""
    raise AssertionError(f"{PACKAGE}.{mod} belongs to no layer: add its package to LAYERS")


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one unit (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def check(
    root: Path,
    package: str,
    layers: tuple[tuple[str, ...], ...],
    aliases: dict[str, str],
) -> tuple[list[str], list[list[str]]]:
    """(upward imports, cycles between units)."""
    rank = {u: i for i, tier in enumerate(layers) for u in tier}
    units = set(rank)
    upward: list[str] = []
    edges: dict[str, set[str]] = defaultdict(set)
    for mod, targets in sorted(imports_of(root, package).items()):
        a = unit_of(mod, units, aliases)
        for target in sorted(targets):
            b = unit_of(target, units, aliases)
            if a == b:
                continue
            edges[a].add(b)
            if rank[b] > rank[a]:
                upward.append(f"{package}.{mod} ({a or package}) imports {package}.{target} ({b})")
    return upward, _cycles(edges)


def test_no_package_imports_a_higher_one_or_loops():
    upward, cycles = check(HARNESS, PACKAGE, LAYERS, ALIASES)
    assert not upward, "imports against the layers (docs/architecture.md):\n" + "\n".join(upward)
    assert not cycles, f"import cycles between packages: {cycles}"


def test_every_package_has_a_layer():
    units = {u for tier in LAYERS for u in tier}
    for mod in imports_of(HARNESS, PACKAGE):
        unit_of(mod, units, ALIASES)  # raises for a package no layer names
    folders = {p.name for p in HARNESS.iterdir() if (p / "__init__.py").exists()}
    assert folders <= units, f"packages without a layer: {sorted(folders - units)}"


def _tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / "pkg" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_checker_reports_an_upward_import_and_a_cycle(tmp_path):
    # low/a.py reaches up to high/ in a function (the hiding place this rule closes); mid1 and
    # mid2 share a layer and import each other, one of them only relatively.
    _tree(
        tmp_path,
        {
            "__init__.py": "",
            "low/__init__.py": "",
            "low/a.py": "def f():\n    from pkg.high import b\n    return b\n",
            "mid1/__init__.py": "from pkg.mid2 import y\n",
            "mid2/__init__.py": "",
            "mid2/y.py": "from ..mid1 import z\n",
            "mid1/z.py": "",
            "high/__init__.py": "",
            "high/b.py": "import pkg.low.a\n",
        },
    )
    layers = (("",), ("low",), ("mid1", "mid2"), ("high",))
    upward, cycles = check(tmp_path / "pkg", "pkg", layers, {})
    assert upward == ["pkg.low.a (low) imports pkg.high.b (high)"]
    assert cycles == [["high", "low"], ["mid1", "mid2"]]


def test_the_checker_passes_a_tree_that_keeps_its_layers(tmp_path):
    _tree(
        tmp_path,
        {
            "__init__.py": "",
            "low/__init__.py": "",
            "low/a.py": "",
            "high/__init__.py": "from pkg.low import a\nfrom . import b\n",
            "high/b.py": "from ..low.a import *\n",
        },
    )
    layers = (("",), ("low",), ("high",))
    assert check(tmp_path / "pkg", "pkg", layers, {}) == ([], [])
