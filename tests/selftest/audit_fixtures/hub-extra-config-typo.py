# Not a listed trap: extra config that fails at hub start-up (a misspelt name).
c.KubeSpawner.modify_pod_hook = jupyter_gateway_mod  # noqa: F821 - the misspelling is the point
