"""The deployment audit (`eg-harness audit`): a deployment's helm values rendered and checked
offline with pinned real engines (helm, EG's chart, KubeSpawner, jupyter_server, Kubernetes
schemas), before anything is installed."""
