"""Old home of the version sets (now eg_harness.runtime.versions), kept only for files other
engineers are editing: harness/targets/local/target.py (current, ensure) and
scenarios/upgrade/test_upgrade.py (current, default_from). Remove once they import
eg_harness.runtime.versions (until the node/hub/lifecycle/browser work lands);
tests/unit/test_import_layers.py lists the local target's import as a pending exception."""

from eg_harness.runtime.versions import Versions, current, default_from, ensure, parse

__all__ = ["Versions", "current", "default_from", "ensure", "parse"]
