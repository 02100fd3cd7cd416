"""An existing deployment, described by a YAML file: nothing is started or stopped.

Provisioning only proves the target is reachable with the given credentials, so a wrong URL
or a refused token stops the run before any scenario, with exit code 3 and the fix named.
"""

from __future__ import annotations

import httpx
from eg_harness.errors import TargetUnavailable
from eg_harness.runtime.secrets import register
from eg_harness.targets.abilities import KubernetesCluster
from eg_harness.targets.base import Target
from eg_harness.targets.endpoints import (
    GatewayEndpoint,
    HubEndpoint,
    HubPages,
    KubernetesAccess,
    SparkChoice,
    SparkEndpoint,
)
from eg_harness.targets.existing.config import (
    ExistingTargetConfig,
    HubPagesConfig,
    load_existing_config,
)


def apply_config(
    target: Target, config: ExistingTargetConfig, allow_destructive: bool | None = None
) -> None:
    """Give `target` the endpoints, credentials and abilities a target config describes.

    Shared by every target that ends up as "a deployment described by this model" (an existing
    one, or a kind cluster the harness just installed), so scenarios see the same thing.
    """
    gw = config.gateway
    token = gw.auth_token.get_secret_value() if gw.auth_token else None
    register(token)
    target.gateway = GatewayEndpoint(
        url=gw.url,
        token=token,
        kernelspec=gw.kernelspec,
        launch_timeout=gw.launch_timeout,
        ws_ping_interval=gw.ws_ping_interval,
        max_kernels=gw.max_kernels,
        unauthorized_users=list(config.unauthorized_users),
        cull_idle_timeout=gw.cull_idle_timeout,
        cull_interval=gw.cull_interval,
    )
    if config.hub is not None:
        hub = config.hub
        api_token = hub.api_token.get_secret_value()
        register(api_token)
        target.hub = HubEndpoint(
            url=hub.url,
            api_token=api_token,
            profile=hub.profile,
            user_options=dict(hub.user_options),
            user_prefix=hub.user_prefix,
            spawn_timeout=hub.spawn_timeout,
            delete_grace_period=hub.delete_grace_period,
            pages=_pages(hub.pages),
        )
    if config.spark is not None:
        sp = config.spark
        target.spark = SparkEndpoint(
            kernelspec=sp.kernelspec,
            choices=[SparkChoice(c.memory, c.cpus, dict(c.user_options)) for c in sp.choices],
            launch_timeout=sp.launch_timeout,
            free_memory_option=sp.free_memory_option,
            oversize_memory=sp.oversize_memory,
            local_mode=sp.local_mode,
        )
    # The one Kubernetes access path: ClusterAccess and UnpullableImage, held as an object.
    target.offered = [a for a in target.offered if not isinstance(a, KubernetesCluster)]
    if config.kubernetes is not None:
        target.offered.append(KubernetesCluster(KubernetesAccess(**config.kubernetes.model_dump())))
    target.capabilities.list_kernels = gw.list_kernels
    target.capabilities.destructive_allowed = (
        config.allow_destructive if allow_destructive is None else allow_destructive
    )


def _pages(pages: HubPagesConfig) -> HubPages:
    password = pages.password.get_secret_value() if pages.password else None
    register(password)
    return HubPages(
        login=pages.login,
        password=password,
        form_options=dict(pages.form_options),
        free_text_option=pages.free_text_option,
        kernelspec_display_name=pages.kernelspec_display_name,
    )


class ExistingTarget(Target):
    kind = "existing"

    def __init__(
        self,
        config_path: str,
        *,
        run_id: str | None = None,
        allow_destructive: bool | None = None,
        **_,
    ):
        super().__init__(run_id)
        self.config_path = config_path
        self.config = load_existing_config(config_path)
        apply_config(self, self.config, allow_destructive)
        self._versions: dict[str, str] = {}

    def provision(self, progress=print) -> None:
        assert self.gateway is not None
        progress(f"checking the gateway at {self.gateway.url}")
        info = self._get_json(
            "gateway", f"{self.gateway.url}/api", self.gateway.token, "gateway.auth_token"
        )
        self._versions["enterprise_gateway"] = str(info.get("gateway_version", "?"))
        self._versions["jupyter_server (gateway)"] = str(info.get("version", "?"))
        if self.gateway.kernelspec is None:
            specs = self._get_json(
                "gateway",
                f"{self.gateway.url}/api/kernelspecs",
                self.gateway.token,
                "gateway.auth_token",
            )
            self.gateway.kernelspec = specs.get("default")
        if self.hub is not None:
            progress(f"checking the hub at {self.hub.url}")
            info = self._get_json("hub", f"{self.hub.url}/hub/api/", None, None)
            self._versions["jupyterhub"] = str(info.get("version", "?"))
            self._get_json(
                "hub", f"{self.hub.url}/hub/api/users", self.hub.api_token, "hub.api_token"
            )

    def _get_json(self, what: str, url: str, token: str | None, field: str | None) -> dict:
        headers = {"Authorization": f"token {token}"} if token else {}
        try:
            resp = httpx.get(url, headers=headers, timeout=15)
        except httpx.HTTPError as exc:
            raise TargetUnavailable(
                f"the {what} at {url} is unreachable ({type(exc).__name__}): check the URL "
                f"in {self.config_path} and that the {what} is running"
            ) from None
        if resp.status_code in (401, 403) and field:
            raise TargetUnavailable(
                f"the {what} at {url} refused the token ({resp.status_code}): set {field} in "
                f"{self.config_path} to a valid token"
            )
        if resp.status_code != 200:
            raise TargetUnavailable(
                f"the {what} at {url} answered {resp.status_code}: is this URL really a "
                f"{what}? check {self.config_path}"
            )
        try:
            return resp.json()
        except ValueError:
            raise TargetUnavailable(
                f"the {what} at {url} did not answer JSON: is this URL really a {what}?"
            ) from None

    def versions(self) -> dict[str, str]:
        return dict(self._versions)

    def attach(self, handoff: dict) -> None:
        """The same YAML, read again in this process; endpoints and versions as the provisioning
        process found them (it already proved them reachable)."""
        super().attach(handoff)
        self._versions.update(handoff["versions"])

    def teardown(self) -> dict[str, list[str]]:
        return {}
