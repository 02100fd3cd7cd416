"""The kernelspec_evaluates_env fault: a launcher that writes KERNEL_* values into a shell
command (`sh -c "echo ... $VALUE"`, the run-script habit EG's distributed SSH launch and its
Spark `eval exec` share), then runs ARGV.

A value holding `$( )` or backticks runs as a command before the kernel starts; the KERNEL_*
injection probe must catch it by the canary the payload creates.
"""

import os
import subprocess
import sys

argv = sys.argv[1:]
for name, value in sorted(os.environ.items()):
    if name.startswith("KERNEL_"):
        # The fault itself: the value becomes shell source, not an argument.
        subprocess.run(["sh", "-c", f'echo "launching with {name}={value}"'], check=False)
os.execv(argv[0], argv)
