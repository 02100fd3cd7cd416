"""Upgrades A -> B with live users: versions as parameters, the operator journey, its table."""
