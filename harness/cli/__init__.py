"""The `eg-harness` command line."""

from eg_harness.cli.main import main

__all__ = ["main"]
