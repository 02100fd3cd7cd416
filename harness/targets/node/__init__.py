"""The node target: a single-node Kubernetes built from Debian's packages on this machine."""
