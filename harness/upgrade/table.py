"""Old home of the upgrade table's judgement (now eg_harness.checks.upgrade), kept only for
scenarios/upgrade/test_upgrade.py (COLUMNS, NOTE, row, problems), which another engineer is
editing. Remove once it imports eg_harness.checks.upgrade (until the
node/hub/lifecycle/browser work lands)."""

from eg_harness.checks.upgrade import COLUMNS, NOTE, problems, row

__all__ = ["COLUMNS", "NOTE", "problems", "row"]
