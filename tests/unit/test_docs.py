"""The documentation is checked like code: the site builds, links resolve, named files exist.

Why: the README had grown into a notebook whose layout drifted from the code, and eight files
that it or the code's comments cited did not exist. A doc or a comment that names a file is a
claim about the repository; these tests fail when the file moves and the claim stays. The site
is built by mkdocs (Material) from mkdocs.yml, with the README as its home page
(docs/index.md includes it), so a link that works on the site works in the README too.
"""

from __future__ import annotations

import glob
import importlib.util
import io
import itertools
import os
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOC_FILES = [README, *sorted((REPO / "docs").glob("*.md"))]

# A repository path as docs and comments write it: a top-level folder, then a path. The
# lookbehind keeps URLs and other projects' paths (".../docs/source/...") out.
TOP = r"harness|fixtures|scenarios|clusters|tests|docs|\.ci|\.github"
# Docs also name the library's modules by their folder under harness/ (`load/cpu.py`).
SUB = r"clients|kernel|targets|runtime|upgrade|checks|k8s|abuse|load|report|audit|cli"
PATH = re.compile(rf"(?<![\w./~$-])((?:{TOP})/[\w./*{{}},<>\[\]-]*)")
SUB_PATH = re.compile(rf"^(?:{SUB})/[\w./-]*\.py$")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
CODE_SPAN = re.compile(r"`([^`\n]+)`")
# What ends a file name, so that `x.py` is never read as module `x`, attribute `py`.
EXTENSIONS = {"py", "md", "yaml", "yml", "json", "lock", "txt", "j2", "toml", "sh", "in", "rst"}


def _expand(path: str) -> list[str]:
    """`clusters/local/{gateway,hub}.in` names two files."""
    m = re.search(r"\{([^{}]*)\}", path)
    if not m:
        return [path]
    alts = (path[: m.start()] + alt + path[m.end() :] for alt in m.group(1).split(","))
    return list(itertools.chain.from_iterable(_expand(a) for a in alts))


def _exists(path: str, root: Path = REPO) -> bool:
    """A named path exists: a file or folder, a glob that matches, or `module.attribute`."""
    path = path.rstrip(".,;:)")
    if any(c in path for c in "<>$"):  # a placeholder: `reports/<run-id>/`
        return True
    for one in _expand(path):
        one = one.rstrip("/")
        if any(c in one for c in "*?["):
            if not glob.glob(str(root / one)):
                return False
            continue
        if (root / one).exists():
            continue
        # `fixtures/xdist.ParallelPhase`, `runtime/waits.wait_for`: a module and a name in it.
        head, _, last = one.rpartition("/")
        name, _, attr = last.partition(".")
        module = root / head / f"{name}.py"
        first = attr.split(".")[0]
        if not (first.isidentifier() and first not in EXTENSIONS and module.is_file()):
            return False
        if first not in module.read_text():
            return False
    return True


def _prose(text: str) -> str:
    """Markdown without its fenced blocks (examples, diagrams), where links are not links."""
    return FENCE.sub("", text)


def _slug(heading: str) -> str:
    """The anchor mkdocs (Python-Markdown's toc) gives a heading."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"[`*]", "", text)
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _anchors(doc: Path) -> set[str]:
    return {_slug(m.group(1)) for m in re.finditer(r"^#+ (.*)$", _prose(doc.read_text()), re.M)}


def _doc_paths(doc: Path) -> list[tuple[int, str]]:
    """Repository paths a doc names in code spans and fenced blocks' comments, with lines."""
    found = []
    for lineno, line in enumerate(doc.read_text().splitlines(), 1):
        for span in CODE_SPAN.findall(line):
            found += [(lineno, m.group(1)) for m in PATH.finditer(span)]
            if SUB_PATH.match(span):
                found.append((lineno, f"harness/{span}"))
    return found


# A string token right after these stands as a statement of its own: a docstring.
STATEMENT_START = (None, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)


def _python_comments(path: Path) -> list[tuple[int, str]]:
    """Comments and docstrings (strings that stand as statements) of a Python file."""
    out, prev = [], None
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        docstring = tok.type == tokenize.STRING and prev in STATEMENT_START
        if tok.type == tokenize.COMMENT or docstring:
            out.append((tok.start[0], tok.string))
        if tok.type not in (tokenize.COMMENT, tokenize.NL):
            prev = tok.type
    return out


def _hash_comments(path: Path) -> list[tuple[int, str]]:
    """`#` comments of TOML, YAML, shell and Dockerfiles."""
    lines = path.read_text().splitlines()
    return [(n, line[line.index("#") :]) for n, line in enumerate(lines, 1) if "#" in line]


def _commented_files() -> list[Path]:
    python = [
        p
        for top in ("harness", "fixtures", "scenarios", "clusters", "tests")
        for p in (REPO / top).rglob("*.py")
        if "__pycache__" not in p.parts
    ]
    other = [
        REPO / "pyproject.toml",
        REPO / "dev",
        REPO / ".ci" / "run",
        REPO / "Dockerfile",
        REPO / "mkdocs.yml",
        *(REPO / ".github").rglob("*.yml"),
        *(REPO / "clusters").rglob("*.yaml"),
    ]
    return sorted([*python, REPO / "noxfile.py", *(p for p in other if p.is_file())])


def _build_site(root: Path, site: Path) -> subprocess.CompletedProcess:
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed: ./dev setup installs it (requirements.lock)")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(root / "mkdocs.yml")]
    return subprocess.run(
        [*cmd, "-d", str(site)], cwd=root, env=env, capture_output=True, text=True, timeout=180
    )


def test_site_builds_strictly(tmp_path):
    """mkdocs build --strict: a broken nav entry, link or anchor is an error, not a warning."""
    site = tmp_path / "site"
    done = _build_site(REPO, site)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}{done.stderr}"
    home = (site / "index.html").read_text()
    # The README is the home page (one source), and its links were rewritten for the site.
    assert "The two commands" in home, "the site's home page is not the README"
    assert 'href="docs/' not in home, "a README link was not rewritten for the site"


def test_site_build_fails_on_a_broken_anchor(tmp_path):
    """The strict build's negative twin: the same config and pages, one anchor broken."""
    root = tmp_path / "repo"
    (root / "docs").mkdir(parents=True)
    for path in [README, REPO / "mkdocs.yml", *(REPO / "docs").glob("*.md")]:
        dest = root / path.relative_to(REPO)
        dest.write_text(path.read_text())
    with (root / "docs" / "suites.md").open("a") as page:
        page.write("\nSee [nothing](reports.md#no-such-heading).\n")
    done = _build_site(root, tmp_path / "site")
    assert done.returncode != 0, "a broken anchor did not fail the strict build"
    assert "no-such-heading" in done.stdout + done.stderr


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_relative_links_resolve(doc):
    """Every relative link of the README and docs/*.md reaches a file, and its anchor exists."""
    broken = []
    for target in LINK.findall(_prose(doc.read_text())):
        if re.match(r"^[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (doc.parent / path).resolve() if path else doc
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target}: no heading with that anchor")
    assert not broken, f"{doc.relative_to(REPO)} has broken links: {broken}"


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_paths_a_doc_names_exist(doc):
    missing = [f"line {n}: {p}" for n, p in _doc_paths(doc) if not _exists(p)]
    assert not missing, f"{doc.relative_to(REPO)} names files that do not exist: {missing}"


def test_paths_comments_name_exist():
    """Comments and docstrings of the code, pyproject.toml and the scripts cite real files."""
    missing = []
    for path in _commented_files():
        texts = _python_comments(path) if path.suffix == ".py" else _hash_comments(path)
        for lineno, text in texts:
            for m in PATH.finditer(text):
                if not _exists(m.group(1)):
                    missing.append(f"{path.relative_to(REPO)}:{lineno}: {m.group(1)}")
    assert not missing, "comments cite files that do not exist:\n" + "\n".join(missing)


def test_readme_reads_in_five_minutes():
    """Under 300 lines, and no table row a reader has to scroll sideways through."""
    lines = README.read_text().splitlines()
    assert len(lines) < 300, f"README.md has {len(lines)} lines: move detail to docs/"
    long_rows = [n for n, line in enumerate(lines, 1) if line.startswith("|") and len(line) > 200]
    assert not long_rows, f"README table rows over 200 characters at lines {long_rows}"


def test_the_checks_catch_what_they_are_for(tmp_path):
    """The path and link checks fail on the kinds of citation that had drifted (negative twin)."""
    assert not _exists("harness/kernel_client.py")
    assert not _exists("tests/unit/test_packaging.py.orig")
    assert not _exists("fixtures/xdist.NoSuchThing")
    assert not _exists("fixtures/no_such.py")
    assert not _exists("clusters/local/{gateway,no-such}.lock")
    assert _exists("fixtures/xdist.ParallelPhase") and _exists("clusters/local/*.lock")
    doc = tmp_path / "page.md"
    doc.write_text("# Page\n\nSee `harness/no_such.py` and `load/no_such.py`.\n")
    assert [p for _, p in _doc_paths(doc) if not _exists(p)] == [
        "harness/no_such.py",
        "harness/load/no_such.py",
    ]
    src = tmp_path / "mod.py"
    src.write_text(
        '"""Uses harness/gone.py."""\n\nx = "harness/not_a_comment.py"  # see tests/gone.py\n'
    )
    assert [t for _, t in _python_comments(src)] == [
        '"""Uses harness/gone.py."""',
        "# see tests/gone.py",
    ]
    assert "heading-with-code" in _anchors(_write(tmp_path / "a.md", "## Heading `with` code\n"))


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
