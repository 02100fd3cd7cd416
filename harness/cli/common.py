"""What every command shares: signal handling, the suite list, one help text per shared option.
The exit codes and ConfigError are eg_harness.errors' alone: the commands import them there."""

from __future__ import annotations

import argparse
import signal
import threading

from eg_harness import resources
from eg_harness import suites as catalogue
from eg_harness.errors import ConfigError

SCENARIOS = resources.SCENARIOS

# One name and one wording per concept, in every command that takes it. The target's options
# (--target, --target-config, --local-fault, --report-dir, --run-id, ...) are declared once, with
# the pytest plugin's, in eg_harness.targets.spec (TargetSpec.add_arguments).
HELP_KERNELSPEC = "the kernelspec the journeys start (default: the target's Python kernelspec)"


def deprecated_alias(parser, old: str, dest: str, **kwargs) -> None:
    """Keep an option's old spelling working, hidden from --help: scripts that used it still
    run, and the help shows one name per concept."""
    parser.add_argument(old, dest=dest, help=argparse.SUPPRESS, **kwargs)


def suites() -> list[str]:
    """The suites a run can select: the folders of scenarios/ with tests (the catalogue,
    eg_harness.suites, describes each; a unit test keeps the two equal)."""
    return catalogue.folders()


def sigterm_as_interrupt() -> None:
    """CI runners stop jobs with SIGTERM; treat it like Ctrl-C so teardown still runs.

    SIGINT is installed too: a shell starts background jobs with SIGINT ignored, and Python then
    leaves it ignored, so `eg-harness up &` would otherwise shrug off Ctrl-C and `kill -INT`.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        signal.signal(signal.SIGINT, signal.default_int_handler)


def selected_suites(spec: str) -> list[str]:
    known = suites()
    wanted = known if spec.strip() == "all" else [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in known]
    if unknown or not wanted:
        raise ConfigError(
            f"unknown suite {', '.join(unknown) or '(none)'}: choose from {', '.join(known)} "
            "or 'all'"
        )
    return wanted
