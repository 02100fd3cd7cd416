"""A local spawner that mirrors the seed's KubeSpawner profile, for JupyterHub on one machine.

KubeSpawner semantics kept on purpose, because the harness must catch what they hide:
- `profile_list` entries with `slug`, `kubespawner_override` and `profile_options`;
- override keys that are not spawner traits are set as plain attributes and do nothing on
  their own: the seed's `jupyter_gateway_url` works only because extra config reads it
  (`apply_gateway_mode` below, the counterpart of the seed's jupyter_gateway_config.py);
- user_options are `{"profile": slug, <option name>: <choice key>}` as KubeSpawner takes them,
  and `{<option name>--unlisted-choice: text}` for an option whose `unlisted_choice` is enabled
  (its override's "{value}" replaced by the text, checked against `validation_regex` if set);
- the spawn page is KubeSpawner's: `profile_form_template` (the seed's form) rendered with the
  profile list as KubeSpawner prepares it, and the submitted form read back into user_options
  by KubeSpawner's rule (`profile`, `profile-option-{slug}--{option}`), so the browser suite
  drives the form a user of the seed's hub sees.
"""

from __future__ import annotations

import copy
import random
import re
import signal
import socket

from jinja2 import Environment
from jupyterhub.spawner import SimpleLocalProcessSpawner
from traitlets import Callable, Dict, Float, Integer, List, Unicode, default


def _port_below_ephemeral() -> int:
    """A free port below the kernel's ephemeral range, for a user server.

    JupyterHub's random_port() binds port 0 and lets it go; the server binds it seconds later.
    Kernels take their ZMQ ports the same way, from the same ephemeral range, so on one machine
    a kernel can take the port in between: the hub then meets a ZMQ greeting where the server
    should be and the spawn fails with 500 (seen once in a parallel run). Pods have a network
    of their own, so the deployment never meets this; the local stand-in keeps user servers
    out of the range that port 0 hands out, and below the harness's own picks (26000 up,
    eg_harness.runtime.ports) so the two never meet.
    """
    low, high = 20000, 25999
    for _ in range(200):
        port = random.randint(low, high)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port in {low}..{high} for a user server")


class ProfileSpawner(SimpleLocalProcessSpawner):
    profile_list = List(Dict(), config=True, help="KubeSpawner-style profiles")
    gateway_auth_token = Unicode("", config=True, help="token the user servers send to EG")
    identity_hook = Callable(
        None, allow_none=True, config=True, help="(spawner) -> KERNEL_USERNAME or None"
    )
    gateway_request_timeout = Float(600.0, config=True, help="the user servers' request_timeout")
    delete_grace_period = Integer(
        1,
        config=True,
        help="KubeSpawner's: seconds between a stopping server's SIGTERM and its SIGKILL (as a "
        "pod's deletion grace period); 0 kills it at once",
    )

    profile_form_template = Unicode(
        "", config=True, help="KubeSpawner's: the Jinja template of the spawn form"
    )
    form_hidden_options = List(
        Unicode(),
        config=True,
        help="profile options left out of the rendered form only (a seeded fault: a form "
        "template that drops a choice the profile still has)",
    )

    @default("options_form")
    def _options_form_default(self):
        if not self.profile_list or not self.profile_form_template:
            return ""
        env = Environment(autoescape=False)
        env.policies["json.dumps_kwargs"] = {"sort_keys": False}
        return env.from_string(self.profile_form_template).render(
            profile_list=_form_profiles(self.profile_list, self.form_hidden_options)
        )

    def options_from_form(self, formdata):
        """KubeSpawner's _options_from_form: the profile, and each
        `profile-option-{slug}--{option}` field under its option name."""
        slug = formdata.get("profile", [None])[0]
        options = {}
        if slug:
            options["profile"] = slug
            prefix = f"profile-option-{slug}--"
            for key, value in formdata.items():
                if key.startswith(prefix):
                    options[key[len(prefix) :]] = value[0]
        return options

    def _profile(self, slug: str | None) -> dict:
        if not self.profile_list:
            return {}
        if slug:
            for p in self.profile_list:
                if p.get("slug") == slug:
                    return p
            raise ValueError(f"unknown profile {slug!r}")
        return next((p for p in self.profile_list if p.get("default")), self.profile_list[0])

    def _apply_override(self, override: dict) -> None:
        for key, value in override.items():
            current = getattr(self, key, None)
            if isinstance(value, dict) and isinstance(current, dict):
                merged = copy.deepcopy(current)
                merged.update(value)
                setattr(self, key, merged)
            else:
                setattr(self, key, value)  # like KubeSpawner: unknown keys are set silently

    def load_user_options(self):
        opts = self.user_options or {}
        profile = self._profile(opts.get("profile"))
        self.chosen_profile = profile.get("slug", "")
        self._apply_override(profile.get("kubespawner_override", {}))
        for name, option in (profile.get("profile_options") or {}).items():
            unlisted = option.get("unlisted_choice") or {}
            typed = opts.get(f"{name}--unlisted-choice")
            if typed is not None and unlisted.get("enabled"):
                regex = unlisted.get("validation_regex")
                if regex and not re.match(regex, typed):
                    raise ValueError(unlisted.get("validation_message") or f"{typed!r} invalid")
                override = _substitute(unlisted.get("kubespawner_override", {}), typed)
                self._apply_override(override)
                continue
            choices = option.get("choices", {})
            key = opts.get(name) or next(
                (k for k, c in choices.items() if c.get("default")), next(iter(choices), None)
            )
            if key not in choices:
                raise ValueError(f"profile option {name!r} has no choice {key!r}")
            self._apply_override(choices[key].get("kubespawner_override", {}))

    async def start(self):
        self.load_user_options()
        apply_gateway_mode(self)
        if self.port == 0:
            self.port = _port_below_ephemeral()
        return await super().start()

    async def stop(self, now=False):
        """Stop as Kubernetes stops a pod KubeSpawner deletes: SIGTERM, then SIGKILL after
        `delete_grace_period` (0 or `now`: SIGKILL at once). Not JupyterHub's local-process
        sequence, which starts with SIGINT: jupyter_server without a TTY takes that as a
        KeyboardInterrupt and exits without shutting its kernels down, a stop the seed's
        servers never get."""
        if await self.poll() is not None:
            return
        if not now and self.delete_grace_period > 0:
            await self._signal(signal.SIGTERM)
            await self.wait_for_death(self.delete_grace_period)
            if await self.poll() is not None:
                return
        await self._signal(signal.SIGKILL)
        await self.wait_for_death(self.kill_timeout)
        if await self.poll() is None:
            self.log.warning("Process %i never died", self.pid)


def _form_profiles(profile_list: list, hidden: list) -> list:
    """The profile list as KubeSpawner hands it to the form template (_validate_user_options:
    a default choice per option, an `unlisted_choice` dict on every option), less `hidden`."""
    profiles = copy.deepcopy(profile_list)
    for profile in profiles:
        options = profile.get("profile_options") or {}
        for name in hidden:
            options.pop(name, None)
        for option in options.values():
            choices = option.get("choices") or {}
            if choices and not any(c.get("default") for c in choices.values()):
                next(iter(choices.values()))["default"] = True
            unlisted = option.setdefault("unlisted_choice", {})
            unlisted.setdefault("enabled", False)
            if unlisted["enabled"]:
                unlisted.setdefault("display_name_in_choices", "Other...")
    if profiles and not any(p.get("default") for p in profiles):
        profiles[0]["default"] = True
    return profiles


def _substitute(node, value: str):
    if isinstance(node, str):
        return node.replace("{value}", value)
    if isinstance(node, dict):
        return {k: _substitute(v, value) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, value) for v in node]
    return node


def apply_gateway_mode(spawner: ProfileSpawner) -> None:
    """The seed's extra config: turn `jupyter_gateway_url` into the seed's `jupyter lab` flags.

    The seed runs `jupyter lab --gateway-url URL --GatewayClient.auth_token=T
    --GatewayWebSocketConnection.kernel_ws_protocol="" --GatewayClient.request_timeout=600`.
    The token goes in the environment instead of argv, so it never shows in a process list.
    """
    url = getattr(spawner, "jupyter_gateway_url", None)
    if not url:
        return
    spawner.args = [
        *spawner.args,
        f"--gateway-url={url}",
        "--GatewayWebSocketConnection.kernel_ws_protocol=",
        f"--GatewayClient.request_timeout={spawner.gateway_request_timeout:g}",
    ]
    env = dict(spawner.environment)
    # jupyter_server raises request_timeout to KERNEL_LAUNCH_TIMEOUT (default 40) + 2, so a
    # short request_timeout only holds with a launch timeout below it.
    if spawner.gateway_request_timeout < 42:
        env["KERNEL_LAUNCH_TIMEOUT"] = str(max(1, int(spawner.gateway_request_timeout) - 2))
    env["JUPYTER_GATEWAY_AUTH_TOKEN"] = spawner.gateway_auth_token
    if spawner.identity_hook is not None:
        username = spawner.identity_hook(spawner)
        if username:
            env["KERNEL_USERNAME"] = username
    spawner.environment = env
