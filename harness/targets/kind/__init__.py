"""The kind target: a kind cluster, images built here, EG's chart and z2jh, run as a plan."""
