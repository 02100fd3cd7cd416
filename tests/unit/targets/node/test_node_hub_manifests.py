"""The node target's hub, offline: the values z2jh would be given, and the objects installed."""

from __future__ import annotations

import json

import yaml
from eg_harness.targets.kind.images import Image
from eg_harness.targets.node import hub, hubimages, spark

SINGLEUSER = "eg-harness/singleuser:0123456789abcdef"


def _values() -> dict:
    overlay = hub.node_hub_overlay(
        api_token="hub-token-1", gateway_token="gw-token-1", singleuser_ref=SINGLEUSER
    )
    return hub.hub_values(overlay)


def test_values_are_the_profile_with_the_seeds_set_files_and_the_overlay():
    values = _values()
    profile = values["singleuser"]["profileList"][0]
    assert profile["slug"] == hub.PROFILE
    assert "jupyter_gateway_url" in profile["kubespawner_override"]
    extra = values["hub"]["extraConfig"]["jupyter_gateway_config.py"]
    assert extra == (hub.PROFILE_DIR / "extra-config.py").read_text()
    form = values["hub"]["extraFiles"]["jupyter_gateway_form"]
    assert form["stringData"] == (hub.PROFILE_DIR / "profile-form.html").read_text()
    assert form["mountPath"] == "/usr/local/etc/jupyterhub/jupyter_gateway_form.html"
    assert values["singleuser"]["image"] == {
        "name": "eg-harness/singleuser",
        "tag": "0123456789abcdef",
        "pullPolicy": "IfNotPresent",
    }
    assert values["hub"]["extraEnv"]["EG_AUTH_TOKEN"] == "gw-token-1"
    assert values["hub"]["services"]["eg-harness"]["apiToken"] == "hub-token-1"


def test_secret_carries_the_values_and_the_extra_files_the_hub_mounts():
    values = _values()
    docs = hub.base_manifests(values, "proxy-token-1")
    secret = next(d for d in docs if d["kind"] == "Secret")
    assert yaml.safe_load(secret["stringData"]["values.yaml"]) == values
    assert secret["stringData"]["proxy-token"] == "proxy-token-1"
    hub_dep = next(
        d for d in hub.workload_manifests(values, "h:1", "p:1") if d["metadata"]["name"] == "hub"
    )
    container = hub_dep["spec"]["template"]["spec"]["containers"][0]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    form = mounts["/usr/local/etc/jupyterhub/jupyter_gateway_form.html"]
    assert form["subPath"] in secret["stringData"]
    assert mounts[hub.VALUES_MOUNT]["name"] == "values"
    env = {e["name"]: e for e in container["env"]}
    assert env["EG_AUTH_TOKEN"]["value"] == "gw-token-1"
    assert env["CONFIGPROXY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "proxy-token"
    assert container["imagePullPolicy"] == "Never"


def test_kubespawner_may_create_and_delete_pods_in_the_hub_namespace_only():
    docs = hub.base_manifests(_values(), "t")
    role = next(d for d in docs if d["kind"] == "Role")
    pods = next(r for r in role["rules"] if "pods" in r["resources"])
    assert {"create", "delete", "watch"} <= set(pods["verbs"])
    assert role["metadata"]["namespace"] == hub.NAMESPACE
    assert not [d for d in docs if d["kind"].startswith("Cluster")]
    binding = next(d for d in docs if d["kind"] == "RoleBinding")
    assert binding["subjects"][0]["name"] == "hub"


def test_services_select_their_deployments():
    values = _values()
    services = {
        d["metadata"]["name"]: d for d in hub.base_manifests(values, "t") if d["kind"] == "Service"
    }
    deps = {d["metadata"]["name"]: d for d in hub.workload_manifests(values, "h:1", "p:1")}
    assert services["hub"]["spec"]["selector"] == deps["hub"]["spec"]["selector"]["matchLabels"]
    for name in ("proxy-api", "proxy-public"):
        assert (
            services[name]["spec"]["selector"] == deps["proxy"]["spec"]["selector"]["matchLabels"]
        )
    assert services["proxy-public"]["spec"]["ports"][0]["targetPort"] == hub.PROXY_HTTP_PORT


def test_single_user_wheels_drop_the_local_hub_locks_jupyterhub_only():
    spec = hubimages.catalogue()["singleuser"]
    text = hubimages.constraints_file(spec).read_text()
    assert "jupyterhub==" not in text
    assert "jupyter-server==2.21.1" in text
    assert hubimages.constraints_file(hubimages.catalogue()["hub"]).name == "tools.lock"


def test_spark_kernelspecs_name_the_driver_image_and_change_the_tag(tmp_path, monkeypatch):
    ctx = tmp_path / "kernelspecs-0"
    spec = ctx / "kernels" / spark.KERNELSPEC
    spec.mkdir(parents=True)
    config = {"image_name": "elyra/kernel-spark-py:VERSION", "executor_image_name": "x"}
    (spec / "kernel.json").write_text(
        json.dumps({"metadata": {"process_proxy": {"config": config}}})
    )
    built = []
    monkeypatch.setattr(spark.node_images, "node_dir", lambda: tmp_path)
    monkeypatch.setattr(spark.node_images, "build_image", lambda i, p: built.append(i) or i)
    plain = Image("kernelspecs", "k", ctx, "0" * 64, {"BASE_IMAGE": "b"})
    out = spark.kernelspecs_with_spark(plain, "eg-harness/kernel-spark-py:1234", lambda _m: None)
    doc = json.loads((out.context / "kernels" / spark.KERNELSPEC / "kernel.json").read_text())
    got = doc["metadata"]["process_proxy"]["config"]
    assert got == {
        "image_name": "eg-harness/kernel-spark-py:1234",
        "executor_image_name": "eg-harness/kernel-spark-py:1234",
    }
    assert out.name == "kernelspecs-spark" and out.digest != plain.digest and built == [out]
    assert (
        json.loads((spec / "kernel.json").read_text())["metadata"]["process_proxy"]["config"]
        == config
    )


def test_spark_choices_clear_the_hubs_free_text_driver_memory():
    for choice in spark.spark_config()["choices"]:
        options = {**hub.USER_OPTIONS, **choice["user_options"]}
        assert all(not options[k] for k in hub.USER_OPTIONS), options
        assert options["driver_memory"] == choice["memory"]
