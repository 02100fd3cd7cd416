"""Statistics the report, the load benchmark and the gate share: percentiles and noise.

A floor of its own so that neither the report nor the benchmark reaches into the other for a
percentile or an interval: it imports nothing of the harness.
"""
