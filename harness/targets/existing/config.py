"""Configuration of an *existing* deployment: a gateway, and maybe a hub, the harness only uses.

The harness never starts or stops such a target, so everything it needs to know about it comes
from one hand-written YAML file (see clusters/examples/existing.yaml). Hand-written files are
usually wrong in small ways, so every problem becomes a one-line ConfigError that names the file,
the cause and the fix, and never echoes a token.
"""

import datetime
import difflib
import os
import re
import typing
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit

import yaml
from eg_harness.errors import ConfigError
from eg_harness.runtime.text import clip
from eg_harness.targets.endpoints import SEED_FORM_OPTIONS, UNPULLABLE_IMAGE
from eg_harness.targets.existing.yamlenv import (
    StrictLoader,
    Unset,
    expand_tree,
    yaml_problem,
)
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticCustomError

EXAMPLE_PATH = "clusters/examples/existing.yaml"


def _reject_bool(value: Any) -> Any:
    # pydantic's lax mode would read `launch_timeout: yes` as 1 second; that is never meant.
    if isinstance(value, bool):
        raise PydanticCustomError("float_type", "Input should be a valid number")
    return value


Seconds = Annotated[float, BeforeValidator(_reject_bool), Field(gt=0, allow_inf_nan=False)]
# A period where 0 means "none" (no culling, no grace period), as the deployment spells it.
SecondsOrZero = Annotated[float, BeforeValidator(_reject_bool), Field(ge=0, allow_inf_nan=False)]


def _check_url(value: str) -> str:
    """Validate like HttpUrl but keep the text as written, because pydantic's HttpUrl rewrites it
    (adds a trailing slash, punycodes hosts) and the suites join paths onto it themselves."""
    shown = _redact_userinfo(value)
    if any(ch.isspace() for ch in value):
        raise ValueError(f"{shown!r} must not contain whitespace")
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        raise ValueError(
            f"{shown!r} must be an http:// or https:// URL with a valid host and port"
        ) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{shown!r} must be an http:// or https:// URL (e.g. http://127.0.0.1:8888)"
        )
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            f"{shown!r} must not carry credentials: put the token in auth_token or api_token"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"{shown!r} must not have a query or fragment: give the base URL only")
    return value.rstrip("/")


def _redact_userinfo(value: str) -> str:
    # A URL's user:password part is a credential; keep it out of error messages.
    return re.sub(r"(//)[^/@]*@", r"\1***@", value)


class GatewayConfig(BaseModel):
    """How to reach the gateway and which of its settings the suites must expect."""

    model_config = ConfigDict(extra="forbid")

    url: str
    auth_token: SecretStr | None = None
    kernelspec: str | None = None
    launch_timeout: Seconds = 60.0
    list_kernels: bool = True
    # EG_WS_PING_INTERVAL_SECS of the deployment; the keepalive scenario idles past it.
    ws_ping_interval: Seconds = 30.0
    # EG_MAX_KERNELS of the deployment, if set: the limits scenario storms past it.
    max_kernels: Annotated[int, Field(gt=0)] | None = None
    # The gateway's idle culling (EG_CULL_IDLE_TIMEOUT / RemoteMappingKernelManager's
    # cull_idle_timeout, 0: off; cull_interval), if known: the lifecycle scenarios wait for the
    # culler only where its timeout fits the run.
    cull_idle_timeout: SecondsOrZero | None = None
    cull_interval: Seconds | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value)

    @field_validator("auth_token")
    @classmethod
    def _empty_token_means_none(cls, value: SecretStr | None) -> SecretStr | None:
        # `auth_token: ""` (or an empty env var) means "send no token"; one spelling for consumers.
        if value is not None and not value.get_secret_value():
            return None
        return value

    @field_validator("kernelspec")
    @classmethod
    def _empty_kernelspec_means_default(cls, value: str | None) -> str | None:
        # Lets `kernelspec: ${EG_KERNELSPEC:-}` fall back to the gateway's default.
        return value or None


class HubPagesConfig(BaseModel):
    """How the browser suite meets the hub's own pages (eg_harness.targets.endpoints.HubPages): the
    defaults are the seed's hub."""

    model_config = ConfigDict(extra="forbid")

    # form: the login page's user-name (and password) form; none: the browser suite skips, named.
    login: typing.Literal["form", "none"] = "form"
    password: SecretStr | None = None
    form_options: dict[str, str] = Field(default_factory=lambda: dict(SEED_FORM_OPTIONS))
    free_text_option: str | None = "driver_memory"
    kernelspec_display_name: str | None = None

    @field_validator("free_text_option", "kernelspec_display_name")
    @classmethod
    def _empty_means_none(cls, value: str | None) -> str | None:
        return value or None


class HubConfig(BaseModel):
    """How to reach a JupyterHub in front of the gateway and how to create throw-away users."""

    model_config = ConfigDict(extra="forbid")

    url: str
    api_token: SecretStr
    profile: str = "jupyter-gateway"
    user_options: dict[str, Any] = Field(default_factory=dict)
    user_prefix: str = "egh-"
    spawn_timeout: Seconds = 120.0
    # The spawner's grace period on stop (KubeSpawner's delete_grace_period), if known:
    # reported beside the stop the lifecycle scenarios measure.
    delete_grace_period: SecondsOrZero | None = None
    # How a user meets the hub's pages: the browser suite's login, spawn form and Launcher.
    pages: HubPagesConfig = Field(default_factory=HubPagesConfig)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value)

    @field_validator("api_token")
    @classmethod
    def _token_required(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError(
                "must not be empty: give a hub service token allowed to create users, "
                "tokens and servers"
            )
        return value

    @field_validator("user_prefix")
    @classmethod
    def _safe_prefix(cls, value: str) -> str:
        # The harness deletes users by this prefix, so an empty one could match real users, and
        # the hub lowercases names, so an uppercase one would never match the users it created.
        if not value or value != value.lower() or re.search(r"[\s/]", value):
            raise ValueError(
                f"{value!r} must be a non-empty lowercase prefix without spaces or '/', "
                "such as 'egh-': the harness creates and deletes users whose names start with it"
            )
        return value


class SparkChoiceConfig(BaseModel):
    """A profile choice to exercise: the driver memory and CPUs it must give."""

    model_config = ConfigDict(extra="forbid")

    memory: str
    cpus: str
    # The hub user_options selecting this choice (merged over hub.user_options); leave out to
    # exercise the choice at the gateway only, with KERNEL_MEMORY and KERNEL_CPUS.
    user_options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("cpus", mode="before")
    @classmethod
    def _cpus_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("memory")
    @classmethod
    def _spark_size(cls, value: str) -> str:
        if not re.fullmatch(r"\d+[kmgt]b?", value.strip().lower()):
            raise ValueError(
                f"{value!r} must be a Spark size such as 512m or 2g (not a unit like 2Gi)"
            )
        return value


class KubernetesConfig(BaseModel):
    """Access to the cluster where the gateway runs kernel and driver pods, for the kubernetes
    suite and the spark suite's driver-pod check (see
    eg_harness.targets.endpoints.KubernetesAccess)."""

    model_config = ConfigDict(extra="forbid")

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str = "enterprise-gateway"
    gateway_service: str = "enterprise-gateway"
    hub_namespace: str | None = None
    shared_namespace: bool | None = None
    network_policy_enforced: bool | None = None
    unpullable_image: str = UNPULLABLE_IMAGE
    unpullable_kernelspec: str | None = None
    # An image on the cluster whose command exits at once (no kernel in it): the dead-pod
    # scenario starts a kernel with it; leave out to skip that scenario.
    exiting_image: str | None = None


class SparkConfig(BaseModel):
    """The deployment's Spark kernelspec and the profile choices the spark suite exercises."""

    model_config = ConfigDict(extra="forbid")

    kernelspec: str
    choices: list[SparkChoiceConfig] = Field(min_length=1)
    launch_timeout: Seconds = 300.0
    # A profile option taking free text (KubeSpawner unlisted_choice), to send bad values
    # through the hub as well; leave out to try bad values at the gateway only.
    free_memory_option: str | None = None
    # More memory than any node has, so the driver can never be scheduled.
    oversize_memory: str = "4096g"
    # true when the driver runs Spark in local mode (local[N]): parallelism must equal the CPUs.
    local_mode: bool = False


class ExistingTargetConfig(BaseModel):
    """Everything the harness knows about a deployment it did not start."""

    model_config = ConfigDict(extra="forbid")

    gateway: GatewayConfig
    hub: HubConfig | None = None
    spark: SparkConfig | None = None
    kubernetes: KubernetesConfig | None = None
    allow_destructive: bool = False
    unauthorized_users: list[str] = Field(default_factory=lambda: ["root"])


# --- validation errors -------------------------------------------------------------------------


def _loc_str(loc: tuple) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _nested_model(arg)
        if found is not None:
            return found
    return None


def _mentions(annotation: Any, target: type) -> bool:
    return annotation is target or any(_mentions(a, target) for a in typing.get_args(annotation))


def _model_at(loc: tuple) -> type[BaseModel] | None:
    model: type[BaseModel] | None = ExistingTargetConfig
    for part in loc:
        if isinstance(part, int):
            continue
        if model is None or part not in model.model_fields:
            return None
        model = _nested_model(model.model_fields[part].annotation)
    return model


def _is_secret(loc: tuple) -> bool:
    model: type[BaseModel] | None = ExistingTargetConfig
    for part in loc:
        if isinstance(part, int):
            continue
        if model is None or part not in model.model_fields:
            return False
        annotation = model.model_fields[part].annotation
        if _mentions(annotation, SecretStr):
            return True
        model = _nested_model(annotation)
    return False


def _all_field_paths(model: type[BaseModel], prefix: tuple = ()) -> list[tuple]:
    paths = []
    for name, field in model.model_fields.items():
        paths.append((*prefix, name))
        nested = _nested_model(field.annotation)
        if nested is not None:
            paths.extend(_all_field_paths(nested, (*prefix, name)))
    return paths


def _suggest(key: str, parent: tuple, siblings: list[str]) -> str | None:
    lowered = key.lower()
    close = difflib.get_close_matches(lowered, siblings, n=1)
    if not close:
        # 'tokn' is too far from 'auth_token' as a whole, but close to its 'token' part.
        parts = {p: s for s in siblings for p in s.split("_") if len(p) >= 3}
        part = difflib.get_close_matches(lowered, list(parts), n=1, cutoff=0.75)
        close = [parts[part[0]]] if part else []
    if close:
        return _loc_str((*parent, close[0]))
    # A right key at the wrong indentation, e.g. a top-level `auth_token:`.
    for path in _all_field_paths(ExistingTargetConfig):
        if path[-1] == lowered and path[:-1] != parent:
            return _loc_str(path)
    return None


# Keys that moved, and where to: a config written for an older harness gets the new place.
MOVED = {("spark", "kubernetes"): "kubernetes"}


def _unknown_key(loc: tuple) -> str:
    parent, key = loc[:-1], loc[-1]
    moved = MOVED.get(tuple(p for p in loc if not isinstance(p, int)))
    if moved:
        return (
            f"{_loc_str(loc)!r} has moved to the top-level {moved!r} section (one Kubernetes "
            f"access for every suite): move it there (see {EXAMPLE_PATH})"
        )
    model = _model_at(parent)
    siblings = list(model.model_fields) if model is not None else []
    text = f"unknown key {_loc_str((*parent, str(key)))!r}"
    suggestion = _suggest(str(key), parent, siblings) if isinstance(key, str) else None
    if suggestion:
        text += f" (did you mean {suggestion!r}?)"
    return f"{text}; allowed keys: {', '.join(siblings)}"


_YAML_TYPE_NAMES = [
    (bool, "a boolean"),
    (int, "an integer"),
    (float, "a number"),
    (str, "a string"),
    (list, "a list"),
    (dict, "a mapping"),
    (datetime.date, "a date"),
]


def _got(value: Any, secret: bool) -> str:
    if value is None:
        return ", got null"
    kind = next((name for t, name in _YAML_TYPE_NAMES if isinstance(value, t)), "another type")
    if secret or isinstance(value, (list, dict)):
        return f", got {kind}"
    shown = repr(value) if isinstance(value, str) else yaml.safe_dump(value).split("\n")[0]
    return f", got {kind} {clip(shown, 40)}"


def _describe(err: Mapping[str, Any]) -> str:
    kind, loc, value = err["type"], tuple(err["loc"]), err.get("input")
    where = _loc_str(loc)
    got = _got(value, _is_secret(loc))
    if kind in ("extra_forbidden", "invalid_key"):
        return _unknown_key(loc)
    if kind == "missing":
        return f"missing required field {where!r}: add it (see {EXAMPLE_PATH})"
    if kind in ("bool_type", "bool_parsing"):
        return f"{where} must be true or false{got}"
    if kind in ("float_type", "float_parsing"):
        return f"{where} must be a number of seconds{got}"
    if kind == "greater_than":
        return f"{where} must be greater than {err['ctx']['gt']}{got}"
    if kind == "greater_than_equal":
        return f"{where} must be {err['ctx']['ge']} or more{got}"
    if kind == "finite_number":
        return f"{where} must be a finite number{got}"
    if kind == "string_type":
        hint = ": put the value in quotes" if isinstance(value, (int, float, datetime.date)) else ""
        return f"{where} must be a string{got}{hint}"
    if kind == "list_type":
        hint = " (write [] for none)" if value is None else ""
        return f"{where} must be a list of strings{got}{hint}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"{where} must be a mapping{got}"
    if kind == "value_error":
        return f"{where} {err['ctx']['error']}"
    return f"{where}: {err['msg']}"


# --- loading -----------------------------------------------------------------------------------


def load_existing_config(
    path: str | os.PathLike, environ: Mapping[str, str] | None = None
) -> ExistingTargetConfig:
    """Read, expand and validate a target config, turning every failure into a ConfigError a
    user can act on without reading a traceback."""
    env = os.environ if environ is None else environ
    shown = os.fspath(path)
    where = f"target config {shown}"
    try:
        with open(os.path.expanduser(shown), "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise ConfigError(
            f"{where} not found: pass --target-config with the path of a YAML file "
            f"(see {EXAMPLE_PATH})"
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            f"{where} is a directory: pass --target-config with the path of a YAML file "
            f"(see {EXAMPLE_PATH})"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"{where} cannot be read ({exc.strerror or type(exc).__name__}): "
            "check its permissions or pass another file"
        ) from None

    try:
        data = yaml.load(raw, Loader=StrictLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where} is not valid YAML{yaml_problem(exc)}") from None

    if data is None:
        raise ConfigError(f"{where} is empty: it needs at least gateway.url (see {EXAMPLE_PATH})")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{where}: the top level must be a mapping with a 'gateway' key{_got(data, False)} "
            f"(see {EXAMPLE_PATH})"
        )

    problems: list[tuple[tuple, Exception]] = []
    expanded = expand_tree(data, env, (), problems)
    try:
        config = ExistingTargetConfig.model_validate(expanded)
        errors: list = []
    except ValidationError as exc:
        errors = exc.errors()

    # A misspelt key explains more than its consequences, and an unset variable more than the
    # empty value it left behind, so report in that order.
    unknown = [e for e in errors if e["type"] in ("extra_forbidden", "invalid_key")]
    if unknown:
        _raise_first(where, _describe(unknown[0]), len(errors) - 1)
    if problems:
        loc, exc = problems[0]
        if isinstance(exc, Unset):
            message = (
                f"environment variable {exc.name} (used by {_loc_str(loc)}) is not set: "
                "export it or write the value in the file"
            )
        else:
            message = f"{_loc_str(loc)} {exc}"
        _raise_first(where, message, len(problems) - 1)
    if errors:
        _raise_first(where, _describe(errors[0]), len(errors) - 1)
    return config


def _raise_first(where: str, message: str, more: int) -> typing.NoReturn:
    # One line, so a CI log shows the whole message; the rest surface on the next run.
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    one_line = re.sub(r"[\r\n]+", " ", message)
    raise ConfigError(f"{where}: {one_line}{suffix}")
