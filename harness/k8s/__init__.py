"""Reading and probing a Kubernetes cluster for the kubernetes suite (and the spark suite's
driver-pod check). The verdicts on what is read live in checks/pods.py, checks/layers.py and
checks/netpol.py, as pure functions of the client's own model objects."""
