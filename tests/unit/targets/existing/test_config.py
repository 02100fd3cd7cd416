"""The target config is hand-written, so its loader is judged mostly by its error messages."""

import textwrap
from pathlib import Path

import pytest
from eg_harness.errors import ConfigError
from eg_harness.targets.existing.config import (
    ExistingTargetConfig,
    GatewayConfig,
    HubConfig,
    load_existing_config,
)

REPO = Path(__file__).resolve().parents[4]
EXAMPLE = REPO / "clusters" / "examples" / "existing.yaml"

FULL = """\
gateway:
  url: https://eg.example.org:8443/gateway/
  auth_token: ${EG_AUTH_TOKEN}
  kernelspec: python3
  launch_timeout: 90
  list_kernels: false
hub:
  url: http://127.0.0.1:8000/
  api_token: ${HUB_API_TOKEN}
  profile: other-profile
  user_options: {image: "x/y:1", cpu: 2}
  user_prefix: test-
  spawn_timeout: 30.5
allow_destructive: true
unauthorized_users: [root, admin]
"""

GW = "gateway: {url: http://gw}\n"


def hub_with(extra: str) -> str:
    return GW + f"hub: {{url: http://h, api_token: t, {extra}}}\n"


ENV = {"EG_AUTH_TOKEN": "gw-secret-1234", "HUB_API_TOKEN": "hub-secret-5678"}


def write(tmp_path: Path, text: str, name: str = "target.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def error_for(path: Path, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_existing_config(path, environ=environ or {})
    message = str(info.value)
    assert "\n" not in message, message
    assert str(path) in message
    assert info.value.exit_code == 2
    return message


# --- valid files -------------------------------------------------------------------------------


def test_full_file(tmp_path):
    config = load_existing_config(write(tmp_path, FULL), environ=ENV)

    assert isinstance(config, ExistingTargetConfig)
    gw = config.gateway
    assert gw.url == "https://eg.example.org:8443/gateway"
    assert gw.auth_token is not None
    assert gw.auth_token.get_secret_value() == "gw-secret-1234"
    assert gw.kernelspec == "python3"
    assert gw.launch_timeout == 90.0
    assert gw.list_kernels is False
    hub = config.hub
    assert hub is not None
    assert hub.url == "http://127.0.0.1:8000"
    assert hub.api_token.get_secret_value() == "hub-secret-5678"
    assert hub.profile == "other-profile"
    assert hub.user_options == {"image": "x/y:1", "cpu": 2}
    assert hub.user_prefix == "test-"
    assert hub.spawn_timeout == 30.5
    assert config.allow_destructive is True
    assert config.unauthorized_users == ["root", "admin"]


def test_minimal_file_gets_defaults(tmp_path):
    config = load_existing_config(
        write(tmp_path, "gateway:\n  url: http://127.0.0.1:8888\n"), environ={}
    )

    assert config.gateway == GatewayConfig(url="http://127.0.0.1:8888")
    assert config.gateway.auth_token is None
    assert config.gateway.kernelspec is None
    assert config.gateway.launch_timeout == 60
    assert config.gateway.list_kernels is True
    assert config.hub is None
    assert config.allow_destructive is False
    assert config.unauthorized_users == ["root"]


def test_hub_defaults(tmp_path):
    path = write(
        tmp_path,
        """\
        gateway: {url: "http://gw"}
        hub: {url: "http://hub", api_token: t}
        """,
    )
    hub = load_existing_config(path, environ={}).hub

    assert hub == HubConfig(url="http://hub", api_token="t")
    assert hub.profile == "jupyter-gateway"
    assert hub.user_options == {}
    assert hub.user_prefix == "egh-"
    assert hub.spawn_timeout == 120


def test_culling_and_grace_period_are_facts_of_the_deployment(tmp_path):
    # 0 is a real setting (no culling, no grace period), not a missing one.
    path = write(
        tmp_path,
        """\
        gateway: {url: "http://gw", cull_idle_timeout: 0, cull_interval: 60}
        hub: {url: "http://hub", api_token: t, delete_grace_period: 0}
        """,
    )
    config = load_existing_config(path, environ={})
    assert (config.gateway.cull_idle_timeout, config.gateway.cull_interval) == (0, 60)
    assert config.hub.delete_grace_period == 0
    unknown = load_existing_config(write(tmp_path, GW, "min.yaml"), environ={})
    assert unknown.gateway.cull_idle_timeout is None and unknown.gateway.cull_interval is None


def test_defaults_are_not_shared_between_instances():
    a = ExistingTargetConfig(gateway={"url": "http://a"}, hub={"url": "http://h", "api_token": "t"})
    a.unauthorized_users.append("x")
    a.hub.user_options["k"] = "v"
    b = ExistingTargetConfig(gateway={"url": "http://a"}, hub={"url": "http://h", "api_token": "t"})

    assert b.unauthorized_users == ["root"]
    assert b.hub.user_options == {}


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        ("http://127.0.0.1:8888", "http://127.0.0.1:8888"),
        ("http://127.0.0.1:8888/", "http://127.0.0.1:8888"),
        ("https://host//", "https://host"),
        ("HTTPS://Host.Example/base/", "HTTPS://Host.Example/base"),
        ("http://[::1]:8888/", "http://[::1]:8888"),
    ],
)
def test_url_is_kept_as_written_without_trailing_slash(tmp_path, url, stored):
    config = load_existing_config(write(tmp_path, f"gateway:\n  url: '{url}'\n"), environ={})

    assert config.gateway.url == stored
    assert isinstance(config.gateway.url, str)


def test_empty_gateway_token_means_no_token(tmp_path):
    path = write(tmp_path, 'gateway:\n  url: http://gw\n  auth_token: ""\n')

    assert load_existing_config(path, environ={}).gateway.auth_token is None


def test_empty_token_from_environment_means_no_token(tmp_path):
    path = write(tmp_path, "gateway:\n  url: http://gw\n  auth_token: ${EG_AUTH_TOKEN}\n")

    assert load_existing_config(path, environ={"EG_AUTH_TOKEN": ""}).gateway.auth_token is None


def test_empty_kernelspec_means_gateway_default(tmp_path):
    path = write(tmp_path, "gateway:\n  url: http://gw\n  kernelspec: ${EG_KERNELSPEC:-}\n")

    assert load_existing_config(path, environ={}).gateway.kernelspec is None


def test_path_may_be_a_string(tmp_path):
    path = write(tmp_path, "gateway:\n  url: http://gw\n")

    assert load_existing_config(str(path), environ={}).gateway.url == "http://gw"


# --- environment expansion ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "environ", "expected"),
    [
        ("${A}", {"A": "1"}, "1"),
        ("x-${A}-y", {"A": "1"}, "x-1-y"),
        ("${A}${B}", {"A": "1", "B": "2"}, "12"),
        ("${A:-dflt}", {}, "dflt"),
        ("${A:-dflt}", {"A": "set"}, "set"),
        ("${A:-dflt}", {"A": ""}, "dflt"),
        ("${A:-}", {}, ""),
        ("${A:-http://h:1/p}", {}, "http://h:1/p"),
        ("${A}", {"A": ""}, ""),
        ("no reference $HOME $ {A}", {}, "no reference $HOME $ {A}"),
        ("${A}", {"A": "${B}"}, "${B}"),
    ],
)
def test_expansion(tmp_path, text, environ, expected):
    config = load_existing_config(_with_kernelspec(tmp_path, text), environ=environ)
    # An empty kernelspec is read as "the gateway's default" (None).
    assert (config.gateway.kernelspec or "") == expected


def test_expansion_defaults_to_os_environ(tmp_path, monkeypatch):
    monkeypatch.setenv("EGH_TEST_CONFIG_VAR", "from-os")
    path = _with_kernelspec(tmp_path, "${EGH_TEST_CONFIG_VAR}")
    assert load_existing_config(path).gateway.kernelspec == "from-os"


def test_expansion_unset_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match=r"environment variable MISSING_VAR .* is not set"):
        load_existing_config(_with_kernelspec(tmp_path, "a${MISSING_VAR}b"), environ={})


@pytest.mark.parametrize("text", ["${A", "${1A}", "${A B}", "${A-x}", "${A:-${B}}", "${}"])
def test_expansion_rejects_malformed_references(tmp_path, text):
    with pytest.raises(ConfigError, match=r"\$\{NAME\} or \$\{NAME:-default\}"):
        load_existing_config(_with_kernelspec(tmp_path, text), environ={"A": "1", "B": "2"})


def _with_kernelspec(tmp_path: Path, text: str) -> Path:
    # A free-text field, so the expanded value is returned as it is.
    quoted = text.replace("'", "''")
    return write(tmp_path, f"gateway:\n  url: http://gw\n  kernelspec: '{quoted}'\n")


def test_expansion_applies_to_every_string_value(tmp_path):
    path = write(
        tmp_path,
        """\
        gateway:
          url: ${EG_URL:-http://127.0.0.1:8888}
          launch_timeout: ${EG_TIMEOUT:-45}
          list_kernels: ${EG_LIST_KERNELS}
        hub:
          url: http://${HUB_HOST}:8000
          api_token: ${HUB_API_TOKEN}
          user_options: {nested: {image: "${IMAGE}"}, tags: ["${IMAGE}"]}
        unauthorized_users: ["${BAD_USER:-root}", other]
        """,
    )
    environ = {
        "EG_LIST_KERNELS": "false",
        "HUB_HOST": "hub.local",
        "HUB_API_TOKEN": "t",
        "IMAGE": "img:1",
        "BAD_USER": "nobody",
    }
    config = load_existing_config(path, environ=environ)

    assert config.gateway.url == "http://127.0.0.1:8888"
    assert config.gateway.launch_timeout == 45
    assert config.gateway.list_kernels is False
    assert config.hub.url == "http://hub.local:8000"
    assert config.hub.user_options == {"nested": {"image": "img:1"}, "tags": ["img:1"]}
    assert config.unauthorized_users == ["nobody", "other"]


@pytest.mark.parametrize("token", ["a:b#c", "x: y", "#start", "'q\"", "{[*&!|>%@`", "${NOT_A_VAR}"])
def test_token_with_yaml_special_characters_via_environment(tmp_path, token):
    path = write(tmp_path, "gateway:\n  url: http://gw\n  auth_token: ${EG_AUTH_TOKEN}\n")

    config = load_existing_config(path, environ={"EG_AUTH_TOKEN": token})

    assert config.gateway.auth_token.get_secret_value() == token


def test_default_environ_is_os_environ(tmp_path, monkeypatch):
    monkeypatch.setenv("EGH_TEST_CONFIG_TOKEN", "from-os-environ")
    path = write(tmp_path, "gateway:\n  url: http://gw\n  auth_token: ${EGH_TEST_CONFIG_TOKEN}\n")

    config = load_existing_config(path)

    assert config.gateway.auth_token.get_secret_value() == "from-os-environ"


# --- secrets -----------------------------------------------------------------------------------


def test_tokens_not_in_repr_or_str(tmp_path):
    config = load_existing_config(write(tmp_path, FULL), environ=ENV)

    for text in (repr(config), str(config), repr(config.gateway), str(config.hub)):
        assert "gw-secret-1234" not in text
        assert "hub-secret-5678" not in text
    assert "gw-secret-1234" not in config.model_dump_json()


# --- errors ------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    message = error_for(tmp_path / "nope.yaml")

    assert "not found" in message
    assert "--target-config" in message
    assert "clusters/examples/existing.yaml" in message


def test_directory_instead_of_file(tmp_path):
    message = error_for(tmp_path)

    assert "is a directory" in message
    assert "--target-config" in message


def test_invalid_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "gateway:\n  url: http://gw\n  auth_token: [secret-in-file\n")

    message = error_for(path)

    assert "is not valid YAML (line " in message
    assert "secret-in-file" not in message


def test_invalid_yaml_line_number_is_one_based(tmp_path):
    path = write(tmp_path, "gateway:\n  url: http://gw\n   bad: indentation\n")

    assert "is not valid YAML (line 3)" in error_for(path)


def test_duplicate_key_is_refused(tmp_path):
    path = write(tmp_path, "gateway:\n  url: http://a\n  url: http://b\n")

    message = error_for(path)

    assert "(line 3)" in message
    assert "duplicate key 'url'" in message


def test_not_utf8(tmp_path):
    path = tmp_path / "target.yaml"
    path.write_bytes(b"gateway:\n  url: http://gw\n  auth_token: \xff\xfe\n")

    assert "not UTF-8" in error_for(path)


@pytest.mark.parametrize(
    ("text", "got"),
    [("- a\n- b\n", "a list"), ("just a string\n", "a string"), ("42\n", "an integer")],
)
def test_top_level_must_be_a_mapping(tmp_path, text, got):
    message = error_for(write(tmp_path, text))

    assert "top level must be a mapping" in message
    assert got in message


def test_empty_file(tmp_path):
    message = error_for(write(tmp_path, "# nothing here\n"))

    assert "is empty" in message
    assert "gateway.url" in message


def test_unknown_key_suggests_the_close_one(tmp_path):
    path = write(tmp_path, "gateway:\n  url: http://gw\n  tokn: secret-value\n")

    message = error_for(path)

    assert "unknown key 'gateway.tokn'" in message
    assert "did you mean 'gateway.auth_token'?" in message
    assert "allowed keys: url, auth_token, kernelspec, launch_timeout, list_kernels" in message
    assert "secret-value" not in message


@pytest.mark.parametrize(
    ("text", "unknown", "suggestion"),
    [
        (GW + "allow_destructiv: true\n", "allow_destructiv", "allow_destructive"),
        (
            "gateway: {url: http://gw, launch_timout: 5}\n",
            "gateway.launch_timout",
            "gateway.launch_timeout",
        ),
        (hub_with("profil: p"), "hub.profil", "hub.profile"),
        (GW + "auth_token: t\n", "auth_token", "gateway.auth_token"),
        ("gateway: {url: http://gw, URL: http://x}\n", "gateway.URL", "gateway.url"),
    ],
)
def test_unknown_key_suggestions(tmp_path, text, unknown, suggestion):
    message = error_for(write(tmp_path, text))

    assert f"unknown key '{unknown}' (did you mean '{suggestion}'?)" in message


def test_unknown_key_without_suggestion_lists_allowed_keys(tmp_path):
    message = error_for(write(tmp_path, "gateway: {url: http://gw}\nzzzzzz: 1\n"))

    assert (
        "unknown key 'zzzzzz'; allowed keys: gateway, hub, spark, kubernetes, allow_destructive"
        in message
    )
    assert "did you mean" not in message


def test_non_string_key_is_unknown(tmp_path):
    message = error_for(write(tmp_path, "gateway: {url: http://gw}\n1: x\n"))

    assert "unknown key '1'" in message


def test_unknown_key_is_reported_before_the_unset_variable_it_uses(tmp_path):
    path = write(tmp_path, "gateway:\n  url: http://gw\n  tokn: ${EG_AUTH_TOKEN}\n")

    assert "unknown key 'gateway.tokn'" in error_for(path)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("gateway:\n  auth_token: x\n", "gateway.url"),
        ("allow_destructive: true\n", "gateway"),
        ("gateway: {url: http://gw}\nhub: {url: http://h}\n", "hub.api_token"),
    ],
)
def test_missing_required_field(tmp_path, text, field):
    message = error_for(write(tmp_path, text))

    assert f"missing required field '{field}'" in message


@pytest.mark.parametrize(
    "url",
    ["ftp://x", "127.0.0.1:8888", "http://", "file:///etc/passwd", "//host/", "http:///path"],
)
def test_bad_url(tmp_path, url):
    message = error_for(write(tmp_path, f"gateway:\n  url: '{url}'\n"))

    assert f"gateway.url '{url}' must be an http:// or https:// URL" in message


@pytest.mark.parametrize(
    ("url", "part"),
    [
        ("http://h:notaport/", "valid host and port"),
        ("http://h/?token=x", "query or fragment"),
        ("http://h/#x", "query or fragment"),
        ("http://h /x", "whitespace"),
    ],
)
def test_other_url_problems(tmp_path, url, part):
    text = GW + f"hub: {{url: '{url}', api_token: t}}\n"
    message = error_for(write(tmp_path, text))

    assert "hub.url" in message
    assert part in message


def test_url_credentials_are_refused_and_not_echoed(tmp_path):
    message = error_for(write(tmp_path, "gateway:\n  url: http://me:pa55word@gw/\n"))

    assert "must not carry credentials" in message
    assert "pa55word" not in message


def test_unset_environment_variable(tmp_path):
    path = write(tmp_path, "gateway:\n  url: http://gw\n  auth_token: ${EG_AUTH_TOKEN}\n")

    message = error_for(path, environ={"OTHER": "1"})

    assert (
        "environment variable EG_AUTH_TOKEN (used by gateway.auth_token) is not set: "
        "export it or write the value in the file"
    ) in message


def test_unset_environment_variable_in_a_list(tmp_path):
    path = write(tmp_path, "gateway: {url: http://gw}\nunauthorized_users: [root, '${BAD}']\n")

    assert "environment variable BAD (used by unauthorized_users[1]) is not set" in error_for(path)


def test_malformed_reference_does_not_echo_the_value(tmp_path):
    path = write(tmp_path, "gateway:\n  url: http://gw\n  auth_token: 'abc${secretish'\n")

    message = error_for(path)

    assert "gateway.auth_token has an unterminated '${' reference" in message
    assert "secretish" not in message


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        (GW + 'allow_destructive: "maybe"\n', ["allow_destructive", "true or false", "'maybe'"]),
        (GW + "allow_destructive: [1]\n", ["allow_destructive", "true or false", "a list"]),
        ("gateway: {url: http://gw, list_kernels: 3}", ["gateway.list_kernels", "true or false"]),
        ("gateway: {url: http://gw, launch_timeout: soon}", ["gateway.launch_timeout", "number"]),
        ("gateway: {url: http://gw, launch_timeout: yes}", ["gateway.launch_timeout", "number"]),
        ("gateway: {url: http://gw, launch_timeout: 0}", ["launch_timeout", "greater than 0"]),
        ("gateway: {url: http://gw, launch_timeout: .inf}", ["gateway.launch_timeout", "finite"]),
        ("gateway: {url: 8888}\n", ["gateway.url", "must be a string"]),
        ("gateway: {url: http://gw, kernelspec: 3}", ["kernelspec", "must be a string", "quotes"]),
        ("gateway: http://gw\n", ["gateway", "must be a mapping", "a string"]),
        (GW + "hub: [1]\n", ["hub", "must be a mapping"]),
        (GW + "unauthorized_users: root\n", ["unauthorized_users", "list of strings"]),
        (GW + "unauthorized_users:\n", ["unauthorized_users", "list of strings", "[]"]),
        (GW + "unauthorized_users: [root, 0]\n", ["unauthorized_users[1]", "must be a string"]),
        (hub_with("user_options: [a]"), ["hub.user_options", "must be a mapping"]),
        (hub_with("spawn_timeout: -1"), ["hub.spawn_timeout", "greater than 0"]),
        (hub_with("delete_grace_period: -1"), ["hub.delete_grace_period", "must be 0 or more"]),
        ("gateway: {url: http://gw, cull_idle_timeout: -5}", ["cull_idle_timeout", "0 or more"]),
        ("gateway: {url: http://gw, cull_interval: 0}", ["cull_interval", "greater than 0"]),
        (hub_with("user_prefix: ''"), ["hub.user_prefix", "non-empty lowercase"]),
        (hub_with("user_prefix: EGH-"), ["hub.user_prefix", "lowercase"]),
        (GW + "hub: {url: http://h, api_token: ''}\n", ["hub.api_token", "must not be empty"]),
    ],
)
def test_wrong_types_name_the_field_and_expected_type(tmp_path, text, parts):
    message = error_for(write(tmp_path, text))

    for part in parts:
        assert part in message


@pytest.mark.parametrize("token", ["123456789", "12.5", "true"])
def test_non_string_token_is_refused_without_echoing_it(tmp_path, token):
    path = write(tmp_path, f"gateway:\n  url: http://gw\n  auth_token: {token}\n")

    message = error_for(path)

    assert "gateway.auth_token must be a string" in message
    assert token not in message


def test_several_problems_are_counted_on_one_line(tmp_path):
    text = "gateway: {url: ftp://x, launch_timeout: soon}\nallow_destructive: maybe\n"

    message = error_for(write(tmp_path, text))

    assert "gateway.url 'ftp://x'" in message
    assert "(and 2 more problems)" in message


def test_no_error_message_contains_a_token(tmp_path):
    secret = "tok-SUPERSECRET"
    cases = [
        "gateway:\n  url: ftp://x\n  auth_token: ${EG_AUTH_TOKEN}\n",
        "gateway:\n  url: http://gw\n  auth_token: ${EG_AUTH_TOKEN}\n  bogus: 1\n",
        "gateway: {url: http://gw}\nhub: {url: http://h, api_token: '${EG_AUTH_TOKEN}', x: 1}\n",
        f"gateway:\n  url: http://gw\n  auth_token: {secret}\n  auth_token: other\n",
        f"gateway:\n  url: http://gw\n  auth_token: [{secret}\n",
    ]
    for text in cases:
        message = error_for(write(tmp_path, text), environ={"EG_AUTH_TOKEN": secret})
        assert secret not in message


# --- the shipped example -----------------------------------------------------------------------


def test_example_file_loads_when_env_vars_are_set():
    config = load_existing_config(EXAMPLE, environ=ENV)

    assert config.gateway.url == "http://127.0.0.1:8888"
    assert config.gateway.auth_token.get_secret_value() == ENV["EG_AUTH_TOKEN"]
    assert config.hub is not None
    assert config.hub.api_token.get_secret_value() == ENV["HUB_API_TOKEN"]
    assert config.allow_destructive is False


def test_example_file_names_the_missing_variable():
    with pytest.raises(ConfigError, match="environment variable EG_AUTH_TOKEN"):
        load_existing_config(EXAMPLE, environ={"HUB_API_TOKEN": "x"})


def test_spark_section_reads_choices(tmp_path):
    path = write(
        tmp_path,
        """
        gateway: {url: http://gw}
        spark:
          kernelspec: spark_python_kubernetes
          choices:
            - {memory: 2g, cpus: 2, user_options: {driver_memory: 2g}}
        kubernetes: {namespace: eg, hub_namespace: jhub, network_policy_enforced: true}
        """,
    )
    config = load_existing_config(path, environ={})
    spark = config.spark
    assert spark.kernelspec == "spark_python_kubernetes"
    assert spark.choices[0].cpus == "2" and spark.choices[0].memory == "2g"
    assert spark.launch_timeout == 300
    kube = config.kubernetes
    assert (kube.namespace, kube.hub_namespace) == ("eg", "jhub")
    assert kube.network_policy_enforced is True


def test_kubernetes_under_spark_points_to_the_top_level_section(tmp_path):
    """The one Kubernetes access path is the top-level section; the old place is named."""
    path = write(
        tmp_path,
        """
        gateway: {url: http://gw}
        spark: {kernelspec: s, choices: [{memory: 2g, cpus: 1}], kubernetes: {namespace: eg}}
        """,
    )
    message = error_for(path)
    assert "'spark.kubernetes' has moved to the top-level 'kubernetes' section" in message


def test_spark_choice_with_a_kubernetes_unit_is_refused(tmp_path):
    path = write(
        tmp_path,
        """
        gateway: {url: http://gw}
        spark: {kernelspec: s, choices: [{memory: 2Gi, cpus: 1}]}
        """,
    )
    message = error_for(path)
    assert "spark.choices[0].memory" in message and "not a unit like 2Gi" in message


def test_spark_without_choices_is_refused(tmp_path):
    message = error_for(write(tmp_path, "gateway: {url: http://gw}\nspark: {kernelspec: s}\n"))
    assert "missing required field 'spark.choices'" in message


def test_gateway_max_kernels_must_be_positive(tmp_path):
    assert (
        load_existing_config(
            write(tmp_path, "gateway: {url: http://gw, max_kernels: 5}\n"), environ={}
        ).gateway.max_kernels
        == 5
    )
    message = error_for(write(tmp_path, "gateway: {url: http://gw, max_kernels: 0}\n"))
    assert "gateway.max_kernels must be greater than 0" in message
