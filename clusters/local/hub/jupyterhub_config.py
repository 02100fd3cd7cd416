"""JupyterHub for the local target: the seed's deployment, shrunk to processes on 127.0.0.1.

Everything run-specific comes from EGH_* environment variables set by the harness
(eg_harness.targets.local.hub), so this file holds no secrets and no ports. Seeded faults
arrive as data in EGH_HUB_SETTINGS (eg_harness.targets.faults): this file knows no fault.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from profile_spawner import ProfileSpawner  # noqa: E402

c = get_config()  # noqa: F821 - provided by JupyterHub when it loads this file

run_dir = os.environ["EGH_RUN_DIR"]
settings = json.loads(os.environ.get("EGH_HUB_SETTINGS") or "{}")
gateway_url = os.environ["EGH_GATEWAY_URL"]

c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = int(os.environ["EGH_PROXY_PORT"])
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ["EGH_HUB_PORT"])
c.JupyterHub.db_url = f"sqlite:///{run_dir}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = f"{run_dir}/jupyterhub_cookie_secret"
c.JupyterHub.pid_file = f"{run_dir}/jupyterhub.pid"
# Whether user servers stop with the hub: True here (JupyterHub's default), False in z2jh.
c.JupyterHub.cleanup_servers = bool(settings.get("cleanup_servers", True))
# Also how often the hub re-adds the routes of an external proxy that restarted empty (the
# resilience suite sets it short to time that; JupyterHub's default is 300).
c.JupyterHub.last_activity_interval = int(settings.get("last_activity_interval", 3600))
# JupyterHub's own default is 100; a bench of a class start may set it lower to see it hold.
if settings.get("concurrent_spawn_limit") is not None:
    c.JupyterHub.concurrent_spawn_limit = int(settings["concurrent_spawn_limit"])

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
            "read:metrics",  # /hub/metrics, sampled during a bench
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
# The seed's GatewayClient.request_timeout (600); the resilience suite times a hung gateway
# with a short one rather than wait ten minutes.
c.ProfileSpawner.gateway_request_timeout = float(settings.get("gateway_request_timeout", 600))
# KubeSpawner's delete_grace_period (its default, 1 s): SIGTERM, then SIGKILL after it.
c.ProfileSpawner.delete_grace_period = int(settings.get("delete_grace_period", 1))
# Components' children inherit the run id so teardown can prove nothing is left behind.
c.Spawner.environment = {
    "EG_HARNESS_RUN_ID": os.environ["EG_HARNESS_RUN_ID"],
    "EG_HARNESS_OWNER_PID": os.environ["EG_HARNESS_OWNER_PID"],
    "JUPYTER_RUNTIME_DIR": f"{run_dir}/user-runtime",
}

# KERNEL_USERNAME: the hub user's name ("{user}"), a fixed name (EG #661), or null: none.
kernel_username = settings.get("kernel_username", "{user}")
if kernel_username is None:
    c.ProfileSpawner.identity_hook = None
else:
    c.ProfileSpawner.identity_hook = lambda spawner: kernel_username.format(user=spawner.user.name)

# The seed's override key is jupyter_gateway_url; a misspelt key is silently ignored, as
# KubeSpawner ignores it.
gateway_key = settings.get("gateway_url_key", "jupyter_gateway_url")

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "spark_profile.json")) as fh:
    spark_profile = json.load(fh)


def _profile_option(option: dict) -> dict:
    """KubeSpawner's profile_options entry for one option of spark_profile.json."""
    env = option.get("env")
    choices = {}
    for i, (key, label) in enumerate(option["choices"].items()):
        choices[key] = {"display_name": label, "default": i == 0}
        if env:
            choices[key]["kubespawner_override"] = {"environment": {env: key}}
    out = {"display_name": option["display_name"], "choices": choices}
    if option.get("unlisted_choice") and env:
        # Free text (KubeSpawner's unlisted_choice) with no validation_regex: what a user types
        # reaches the gateway, so the spark suite can see which layer catches a bad value.
        out["unlisted_choice"] = {
            "enabled": True,
            "display_name": option["unlisted_choice"],
            "kubespawner_override": {"environment": {env: "{value}"}},
        }
    return out


# The spawn page: the seed's form template (clusters/kind/jupyterhub-profile/profile-form.html,
# the hub.extraFiles form z2jh mounts), rendered as KubeSpawner renders profile_form_template.
_here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(_here, "..", "..", "kind", "jupyterhub-profile", "profile-form.html")) as fh:
    c.ProfileSpawner.profile_form_template = fh.read()
c.ProfileSpawner.form_hidden_options = list(settings.get("form_hidden_options", []))

c.ProfileSpawner.profile_list = [
    {
        "display_name": "Spark on Enterprise Gateway",
        "slug": spark_profile["profile"],
        "default": True,
        "kubespawner_override": {gateway_key: gateway_url},
        "profile_options": {
            name: _profile_option(option) for name, option in spark_profile["options"].items()
        },
    },
    {
        "display_name": "Local kernels (no gateway)",
        "slug": "local",
        "kubespawner_override": {},
    },
]
