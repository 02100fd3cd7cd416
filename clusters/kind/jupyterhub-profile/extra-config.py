# hub.extraConfig for z2jh 3.2.1 (KubeSpawner 6.2.0): turns the profile's jupyter_gateway_url
# override into gateway mode. KubeSpawner sets unknown override keys as plain attributes and
# does nothing with them, so without this file the seed's profile starts an ordinary server.
# Minimal version written by the kind target; the deployment audit owns this file.
import os

from kubernetes_asyncio.client.models import V1EnvVar

FORM = "/usr/local/etc/jupyterhub/jupyter_gateway_form.html"


def _gateway_mode(spawner, pod):
    """The seed's flags on the user server when its profile set jupyter_gateway_url."""
    url = getattr(spawner, "jupyter_gateway_url", None)
    if not url:
        return pod
    container = pod.spec.containers[0]
    container.args = [
        *(container.args or []),
        f"--gateway-url={url}",
        "--GatewayWebSocketConnection.kernel_ws_protocol=",
        "--GatewayClient.request_timeout=600",
    ]
    env = [e for e in (container.env or []) if e.name not in ("KERNEL_USERNAME",)]
    # The gateway's token travels in the environment (never argv, which `ps` shows).
    env.append(V1EnvVar(name="JUPYTER_GATEWAY_AUTH_TOKEN", value=os.environ["EG_AUTH_TOKEN"]))
    # EG checks KERNEL_USERNAME against its authorized users; the hub user, not jovyan (EG #661).
    env.append(V1EnvVar(name="KERNEL_USERNAME", value=spawner.user.name))
    container.env = env
    return pod


c.KubeSpawner.modify_pod_hook = _gateway_mode  # noqa: F821 - c is the hub's config

if os.path.exists(FORM):
    with open(FORM) as fh:
        c.KubeSpawner.profile_form_template = fh.read()  # noqa: F821
