"""Old home of `percentile` (now eg_harness.stats.percentiles), kept only for files other
engineers are editing: harness/targets/node/figures.py and scenarios/throughput/test_limits.py.
Remove once they import eg_harness.stats.percentiles (until the node/hub/lifecycle/browser work
lands); tests/unit/test_import_layers.py lists the node import as a pending exception."""

from eg_harness.stats.percentiles import percentile

__all__ = ["percentile"]
