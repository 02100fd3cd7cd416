# The seed's jupyter_gateway_config.py (hub.extraConfig): turns a profile's
# `jupyter_gateway_url` override into gateway mode for the user server.
#
# KubeSpawner sets unknown override keys as plain attributes and nothing reads them; this hook
# runs after the profile is applied (KubeSpawner calls modify_pod_hook after
# load_user_options), reads the attribute and gives the user server the seed's flags:
#   jupyter lab --gateway-url ... --GatewayWebSocketConnection.kernel_ws_protocol=""
#               --GatewayClient.request_timeout=600
# The gateway's token comes from the hub's environment (hub.extraEnv.EG_AUTH_TOKEN, which the
# kind target sets per run) into the user server's environment, never its argv (`ps` shows argv).
import os

from kubernetes_asyncio.client.models import V1EnvVar

GATEWAY_REQUEST_TIMEOUT = 600  # seconds; jupyter_server derives KERNEL_LAUNCH_TIMEOUT from it


def jupyter_gateway_mode(spawner, pod):
    url = getattr(spawner, "jupyter_gateway_url", None)
    if not url:
        return pod
    container = pod.spec.containers[0]
    container.args = [
        *(container.args or []),
        f"--gateway-url={url}",
        "--GatewayWebSocketConnection.kernel_ws_protocol=",
        f"--GatewayClient.request_timeout={GATEWAY_REQUEST_TIMEOUT}",
    ]
    env = [e for e in (container.env or []) if e.name != "KERNEL_USERNAME"]
    token = os.environ.get("EG_AUTH_TOKEN", "")
    if token:
        env.append(V1EnvVar(name="JUPYTER_GATEWAY_AUTH_TOKEN", value=token))
    # EG checks KERNEL_USERNAME against its authorized/unauthorized users.
    env.append(V1EnvVar(name="KERNEL_USERNAME", value=spawner.user.name))
    container.env = env
    return pod


c.KubeSpawner.modify_pod_hook = jupyter_gateway_mode  # noqa: F821 - z2jh defines c


with open("/usr/local/etc/jupyterhub/jupyter_gateway_form.html") as _form:
    c.KubeSpawner.profile_form_template = _form.read()  # noqa: F821
