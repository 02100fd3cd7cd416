"""The local target: real EG, JupyterHub, proxy and kernels as processes on 127.0.0.1."""

from eg_harness.targets.local.target import LocalTarget

__all__ = ["LocalTarget"]
