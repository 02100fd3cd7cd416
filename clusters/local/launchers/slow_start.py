"""The gateway_slow_start fault: a kernel launcher that takes SECONDS longer, then runs ARGV.

Stands for a slow image pull or an overloaded node: the kernel itself is fine, it just comes
up late, which only a release gate comparing against a baseline can call a regression.
"""

import os
import sys
import time

delay, argv = float(sys.argv[1]), sys.argv[2:]
time.sleep(delay)  # the seeded delay itself, not a wait for anything
os.execv(argv[0], argv)
