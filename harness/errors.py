"""Errors that end a harness command with an exit code a CI can branch on."""


class HarnessError(Exception):
    """A failure with a one-line cause-and-fix message and an exit code."""

    exit_code = 1


class ConfigError(HarnessError):
    """Bad usage or configuration: the user must change what they typed or wrote."""

    exit_code = 2


class TargetUnavailable(HarnessError):
    """The target could not be provisioned or reached."""

    exit_code = 3
