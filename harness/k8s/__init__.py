"""Reading and probing a Kubernetes cluster for the kubernetes suite (and the spark suite's
driver-pod check). The verdicts on what is read live in eg_harness.checks.pods,
eg_harness.checks.layers and eg_harness.checks.netpol, as pure functions of the client's own
model objects."""
