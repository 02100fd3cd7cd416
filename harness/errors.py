"""Errors and exit codes that end a harness command: the one list a CI can branch on.

Every command returns one of these (``eg_harness.cli`` imports them from here, never numbers):

====  =================  ==============================================================
code  name               meaning
====  =================  ==============================================================
0     EXIT_OK            all passed / no regression / the comparison is complete
1     EXIT_FAILED        a scenario failed; bench: errors; gate and diff: a regression,
                         or (diff) B does not cover what A ran
2     EXIT_USAGE         bad usage or configuration: change what was typed or written
3     EXIT_TARGET        the target could not be provisioned or reached
4     EXIT_INVALID       measurements invalid (the load generator was the bottleneck)
5     EXIT_INCONCLUSIVE  gate: a default limit could not be judged against noise it
                         cannot see (single runs): repeat the benches or set the limit
130   EXIT_INTERRUPTED   interrupted (Ctrl-C, SIGTERM)
====  =================  ==============================================================
"""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_TARGET = 3
EXIT_INVALID = 4
EXIT_INCONCLUSIVE = 5
EXIT_INTERRUPTED = 130


class HarnessError(Exception):
    """A failure with a one-line cause-and-fix message and an exit code."""

    exit_code = EXIT_FAILED


class ConfigError(HarnessError):
    """Bad usage or configuration: the user must change what they typed or wrote."""

    exit_code = EXIT_USAGE


class TargetUnavailable(HarnessError):
    """The target could not be provisioned or reached."""

    exit_code = EXIT_TARGET
