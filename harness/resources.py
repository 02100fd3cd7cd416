"""Where the harness's own files are, whether it runs from a clone or an installed wheel.

The scenarios and cluster definitions travel inside the package (`eg_harness.scenarios`,
`eg_harness.clusters`), so a `pip install` of the harness can run its suites from any
directory; in a clone with an editable install the same names resolve to the repo's folders.
Run outputs are never written into the package: they go under the working directory.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path


def _package_dir(name: str) -> Path:
    return Path(str(resources.files(name)))


CLUSTERS = _package_dir("eg_harness.clusters")
LOCAL_CLUSTER = CLUSTERS / "local"
SCENARIOS = _package_dir("eg_harness.scenarios")


def reports_root() -> Path:
    """Where runs publish: EG_HARNESS_REPORTS, else ./reports of the working directory."""
    return Path(os.environ.get("EG_HARNESS_REPORTS", "reports")).resolve()
