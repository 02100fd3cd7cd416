"""JupyterHub for the local target: the seed's deployment, shrunk to processes on 127.0.0.1.

Everything run-specific comes from EGH_* environment variables set by the harness
(harness/targets/local.py), so this file holds no secrets and no ports.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from profile_spawner import ProfileSpawner  # noqa: E402

c = get_config()  # noqa: F821 - provided by JupyterHub when it loads this file

run_dir = os.environ["EGH_RUN_DIR"]
faults = set(filter(None, os.environ.get("EGH_FAULTS", "").split(",")))
gateway_url = os.environ["EGH_GATEWAY_URL"]

c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = int(os.environ["EGH_PROXY_PORT"])
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ["EGH_HUB_PORT"])
c.JupyterHub.db_url = f"sqlite:///{run_dir}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = f"{run_dir}/jupyterhub_cookie_secret"
c.JupyterHub.pid_file = f"{run_dir}/jupyterhub.pid"
c.JupyterHub.cleanup_servers = True
c.JupyterHub.last_activity_interval = 3600

# The proxy is a separate process the harness runs, as it is a separate pod in z2jh.
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.api_url = os.environ["EGH_PROXY_API_URL"]
c.ConfigurableHTTPProxy.auth_token = os.environ["EGH_PROXY_TOKEN"]

c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True

c.JupyterHub.services = [{"name": "eg-harness", "api_token": os.environ["EGH_SERVICE_TOKEN"]}]
c.JupyterHub.load_roles = [
    {
        "name": "eg-harness",
        "scopes": [
            "admin:users",
            "admin:servers",
            "tokens",
            "access:servers",
            "read:servers",
            "list:users",
            "read:users",
        ],
        "services": ["eg-harness"],
    }
]

c.JupyterHub.spawner_class = ProfileSpawner
c.Spawner.cmd = [os.environ["EGH_SINGLEUSER"]]
c.Spawner.args = ["--allow-root", "--ServerApp.ip=127.0.0.1"]
c.Spawner.start_timeout = int(os.environ.get("EGH_SPAWN_TIMEOUT", "120"))
c.Spawner.http_timeout = int(os.environ.get("EGH_SPAWN_TIMEOUT", "120"))
c.Spawner.default_url = "/lab"
c.SimpleLocalProcessSpawner.home_dir_template = f"{run_dir}/homes/{{username}}"
c.ProfileSpawner.gateway_auth_token = os.environ["EGH_GATEWAY_TOKEN"]
# Components' children inherit the run id so teardown can prove nothing is left behind.
c.Spawner.environment = {
    "EG_HARNESS_RUN_ID": os.environ["EG_HARNESS_RUN_ID"],
    "EG_HARNESS_OWNER_PID": os.environ["EG_HARNESS_OWNER_PID"],
    "JUPYTER_RUNTIME_DIR": f"{run_dir}/user-runtime",
}

if "hub_no_identity" in faults:
    c.ProfileSpawner.identity_hook = None
elif "hub_fixed_identity" in faults:
    c.ProfileSpawner.identity_hook = lambda spawner: "jovyan"  # EG #661
else:
    c.ProfileSpawner.identity_hook = lambda spawner: spawner.user.name

# The seed's override key is jupyter_gateway_url; a misspelt key is silently ignored,
# which is exactly the misconfiguration this fault reproduces.
gateway_key = "gateway_url" if "profile_not_gateway" in faults else "jupyter_gateway_url"

memory_choices = {
    "1g": {"display_name": "1 GB driver memory", "default": True},
    "2g": {"display_name": "2 GB driver memory"},
}
cpu_choices = {"1": {"display_name": "1 CPU", "default": True}, "2": {"display_name": "2 CPUs"}}
for key, choice in memory_choices.items():
    choice["kubespawner_override"] = {"environment": {"KERNEL_MEMORY": key}}
for key, choice in cpu_choices.items():
    choice["kubespawner_override"] = {"environment": {"KERNEL_CPUS": key}}

c.ProfileSpawner.profile_list = [
    {
        "display_name": "Spark on Enterprise Gateway",
        "slug": "jupyter-gateway",
        "default": True,
        "kubespawner_override": {gateway_key: gateway_url},
        "profile_options": {
            "image": {
                "display_name": "Spark driver image",
                "choices": {
                    "spark-3.5": {"display_name": "spark 3.5 (recorded only on local)"},
                },
            },
            "driver_memory": {"display_name": "Driver memory", "choices": memory_choices},
            "driver_cores": {"display_name": "Driver CPUs", "choices": cpu_choices},
        },
    },
    {
        "display_name": "Local kernels (no gateway)",
        "slug": "local",
        "kubespawner_override": {},
    },
]
