# The node target's hub config: what z2jh 3.2.1's own hub config (files/hub/jupyterhub_config.py
# of the chart) does with a deployment's values, for a hub installed without the chart (the chart
# is on no registry reachable here and declares kubeVersion >= 1.23; the node cluster is 1.20).
#
# The values are the deployment's own (clusters/kind/jupyterhub-profile/values.yaml with the
# seed's --set-file extra config and form, plus the node overlay), mounted from the Secret `hub`
# at secret/values.yaml as z2jh mounts them. The single-user keys are mapped onto KubeSpawner by
# the deployment audit's own reading of z2jh (z2jh/z2jh_values.py is eg_harness.audit.probe:
# Z2JH_KUBESPAWNER_KEYS, _hub_config, _z2jh_module), so the pods the audit renders offline and
# the pods this hub creates come from one mapping; then hub.extraConfig is executed in key order
# as z2jh executes it. What z2jh would do that this does not (a PVC per user, the hub's database
# on a PVC, the idle culler, network policies, the user scheduler) is listed in the node
# target's notes (eg_harness.targets.node.hub.DEVIATIONS).
import copy
import importlib.util
import os
import sys
from pathlib import Path

import yaml

HERE = Path("/usr/local/etc/jupyterhub")
NAMESPACE = os.environ["POD_NAMESPACE"]

# z2jh 3.2.1's chart defaults for the single-user keys the mapping reads (its values.yaml).
Z2JH_DEFAULTS = {
    "singleuser": {
        "cmd": "jupyterhub-singleuser",
        "uid": 1000,
        "fsGid": 100,
        "startTimeout": 300,
        "image": {"pullPolicy": "IfNotPresent"},
        "memory": {"guarantee": "1G"},
        "extraLabels": {"hub.jupyter.org/network-access-hub": "true"},
    },
}


def _merged(base, over):
    out = copy.deepcopy(base)
    for key, value in (over or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


values = yaml.safe_load((HERE / "secret" / "values.yaml").read_text()) or {}
values = _merged(Z2JH_DEFAULTS, values)
z2jh_values = _load("z2jh_values", HERE / "z2jh" / "z2jh_values.py")

c = get_config()  # noqa: F821 - JupyterHub's config loader defines it

# The hub, its proxy (a Deployment of its own, as in z2jh) and its database.
c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
c.JupyterHub.authenticator_class = "dummy"  # z2jh 3.2.1: hub.config.JupyterHub
c.JupyterHub.admin_access = True  # z2jh 3.2.1: hub.config.JupyterHub
c.JupyterHub.hub_bind_url = "http://:8081"
c.JupyterHub.hub_connect_url = "http://hub:8081"
c.JupyterHub.cleanup_servers = False
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.api_url = "http://proxy-api:8001"
c.ConfigurableHTTPProxy.auth_token = os.environ["CONFIGPROXY_AUTH_TOKEN"]
c.JupyterHub.db_url = "sqlite:////srv/jupyterhub/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "/srv/jupyterhub/jupyterhub_cookie_secret"

# The user pods: the deployment's values through the audit's z2jh mapping.
c.merge(z2jh_values._hub_config(values, NAMESPACE))
c.KubeSpawner.common_labels = {"app": "jupyterhub", "release": "jupyterhub"}

for key, service in sorted(((values.get("hub") or {}).get("services") or {}).items()):
    service = dict(service)
    service.setdefault("name", key)
    if "apiToken" in service:
        service["api_token"] = service.pop("apiToken")
    c.JupyterHub.services.append(service)
for key, role in sorted(((values.get("hub") or {}).get("loadRoles") or {}).items()):
    role = dict(role)
    role.setdefault("name", key)
    c.JupyterHub.load_roles.append(role)

# hub.extraConfig, in key order, as z2jh runs it (its helper module importable as `z2jh`).
sys.modules["z2jh"] = z2jh_values._z2jh_module(values)
for key, config_py in sorted(((values.get("hub") or {}).get("extraConfig") or {}).items()):
    print(f"Loading extra config: {key}", flush=True)
    exec(config_py)
