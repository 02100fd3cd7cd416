"""Seeded fault: a gateway entrypoint that does not pass SIGTERM on to the gateway.

A shell entrypoint (`sh -c "jupyter enterprisegateway ..."`) running as a container's PID 1
ignores the SIGTERM of a rolling update; the kubelet SIGKILLs the container when the grace
period ends, and the gateway never shuts its kernels down. This wrapper does the same without
the wait: on SIGTERM it SIGKILLs the gateway and exits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys


def main() -> None:
    child = subprocess.Popen(sys.argv[1:])

    def on_term(_signum, _frame) -> None:
        # os.waitpid, not child.wait(): the handler runs inside the main thread's child.wait(),
        # which holds Popen's non-reentrant wait lock (a second wait() would deadlock until the
        # harness gives up and SIGKILLs this wrapper, 60 s later).
        os.kill(child.pid, signal.SIGKILL)
        os.waitpid(child.pid, 0)
        os._exit(128 + signal.SIGKILL)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    sys.exit(child.wait())


if __name__ == "__main__":
    main()
