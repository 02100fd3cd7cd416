"""Conformance and performance harness for Jupyter Enterprise Gateway deployments.

This package knows nothing of pytest: the same clients serve the scenarios, load journeys
and the command line.
"""

__version__ = "0.1.0"
