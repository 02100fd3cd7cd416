"""nox sessions mirroring ./dev, for people who live in nox.

The component environments (gateway, hub, proxy) are created and cached by the harness
itself (harness/runtime/envs.py), not by nox: their pins conflict with the harness's own.
"""

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True


def _install(session: nox.Session) -> None:
    session.install("uv==0.13.9")
    session.run(
        "uv",
        "pip",
        "sync",
        "--python",
        session.virtualenv.location,
        "requirements.lock",
        external=True,
    )
    session.run(
        "uv",
        "pip",
        "install",
        "--python",
        session.virtualenv.location,
        "--no-deps",
        "-e",
        ".",
        external=True,
    )
    session.run("eg-harness", "setup")


@nox.session(python=["3.11", "3.10"])
def tests(session: nox.Session) -> None:
    _install(session)
    session.run("pytest", "tests", *session.posargs)


@nox.session(python="3.11")
def conformance(session: nox.Session) -> None:
    _install(session)
    session.run("eg-harness", "run", *session.posargs)


@nox.session(python="3.11")
def walltime(session: nox.Session) -> None:
    """Benchmark: warm wall time of the local auth and startup suites (prints figures)."""
    _install(session)
    session.run("eg-harness", "walltime", *session.posargs)


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Benchmark: launch storms up a ladder, churn, knee and CPU ceiling (prints figures).

    `nox -s bench -- --ladder 1,2,5 --load-workers 2`; then `eg-harness gate --baseline FILE`.
    """
    _install(session)
    session.run("eg-harness", "bench", *session.posargs)


@nox.session(python="3.11", name="bench-flood")
def bench_flood(session: nox.Session) -> None:
    """Benchmark: where a flood of small outputs is lost (prints figures per hop and reader).

    A raw ZMQ tap on the kernel's IOPub, a raw WebSocket client and the harness's client, on
    the gateway and hub hops, before and after a remote-launched kernel;
    `nox -s bench-flood -- --no-hub --rates 0,1000 --json flood.json`.
    """
    _install(session)
    session.run("eg-harness", "bench-flood", *session.posargs)


@nox.session(python="3.11")
def browser(session: nox.Session) -> None:
    """Figures: the user's journey in JupyterLab (Chromium from apt), repeated (default 5 users,
    `-- N` for another count); prints log-in to Lab, notebook open to kernel Idle and execute
    to output in the page (p50/p95) beside the same run's API-level spans."""
    _install(session)
    repeats = session.posargs[0] if session.posargs else "5"
    report = f"{session.create_tmp()}/browser-report"
    session.run(
        "eg-harness",
        "run",
        "--suite",
        "browser",
        "--report-dir",
        report,
        env={"EG_HARNESS_BROWSER_REPEATS": repeats},
        success_codes=[0, 1],  # a failed journey's figures are still printed
    )
    session.run("python", "-m", "eg_harness.browser.figures", f"{report}/results.json")


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    session.install("ruff==0.17.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
