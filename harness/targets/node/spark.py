"""Spark on the node cluster: EG's spark_python_kubernetes, spark-submit in cluster mode from the
EG pod creating the driver pod, the driver sized by the profile's choice.

What it takes beyond the python_kubernetes install (issue 23), all in the node target's hands:
- the gateway image with Spark (`enterprise-gateway-spark`: the node gateway image plus
  Debian's JRE 17 and PySpark 3.3.4) as the chart's `image`, and the Spark driver image
  (`kernel-spark-py`) in containerd (hubimages.build_spark_images);
- the seed's <KERNEL SPEC IMAGE> with spark_python_kubernetes naming that driver image
  (`kernelspecs_with_spark`): on node the kernelspecs image is staged with EG's own reference
  (elyra/kernel-spark-py, which no registry here serves) because kind's kernel-spark-py context
  downloads Spark and Debian packages in its build;
- the kernelspec allowed (`spark_overlay`: kernel.allowedKernels).

Why Spark 3.3 and not the local gateway's 4.3, as seen on the node cluster: Spark 3.5 and 4
create the driver's Service by server-side apply (PATCH ...?fieldManager=fabric8&force=true);
EG 3.3.0's chart role grants no patch (403), and with patch granted Kubernetes 1.20's apply
rejects the Service ("associative list with keys has an element that omits key field
protocol"). Spark 3.3 creates it with POST. Measured here: POST /api/kernels 201 in 7.3 s, the
driver pod Running with requests cpu 1, memory 1433Mi for KERNEL_MEMORY=1g (Spark adds its
40% non-JVM overhead).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable

from eg_harness.targets.kind.images import Image, context_digest
from eg_harness.targets.kind.pins import load_pins as load_kind_pins
from eg_harness.targets.kind.values import Overlay, _set
from eg_harness.targets.node import images as node_images
from eg_harness.targets.node.cluster import NodeCluster
from eg_harness.targets.node.hub import USER_OPTIONS
from eg_harness.targets.node.hubimages import build_spark_images

Progress = Callable[[str], None]

KERNELSPEC = "spark_python_kubernetes"
ALLOWED_KERNELS = ["python_kubernetes", KERNELSPEC]
LAUNCH_TIMEOUT_S = 300.0  # a driver start took 7.3 s here; the bound, not the figure


def spark_images(cluster: NodeCluster, eg, progress: Progress = print) -> dict[str, Image]:
    """The driver image and the gateway image with Spark, built (or cached) and imported."""
    built = build_spark_images(eg, progress)
    for image in built.values():
        if not cluster.has_image(image.ref):
            cluster.import_image(node_images.export_image(image, progress))
    return built


def kernelspecs_with_spark(image: Image, driver_ref: str, progress: Progress = print) -> Image:
    """The staged kernelspecs image (plain or with a seeded fault) with spark_python_kubernetes
    naming `driver_ref` for its driver and executors, built under its own name and tag."""
    root = node_images.node_dir() / "contexts"
    name = f"{image.name}-spark"
    work = root / f"{name}.staging"
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(image.context, work)
    kernel_json = work / "kernels" / KERNELSPEC / "kernel.json"
    doc = json.loads(kernel_json.read_text())
    config = doc["metadata"]["process_proxy"]["config"]
    config["image_name"] = driver_ref
    config["executor_image_name"] = driver_ref
    kernel_json.write_text(json.dumps(doc, indent=2) + "\n")
    digest = context_digest(work, image.build_args)
    final = root / f"{name}-{digest[:16]}"
    if final.exists():
        shutil.rmtree(work)
    else:
        work.rename(final)
    spark = Image(
        name,
        f"{image.what}; {KERNELSPEC}'s driver and executor image: {driver_ref}",
        final,
        digest,
        image.build_args,
    )
    return node_images.build_image(spark, progress)


def spark_overlay() -> Overlay:
    """What the EG install needs beyond the node values for Spark, each key with its reason."""
    values: dict = {}
    reasons: dict[str, str] = {}
    _set(values, "kernel.allowedKernels", ALLOWED_KERNELS)
    reasons["kernel.allowedKernels"] = (
        "node: the Spark kernelspec too, now that the gateway image has Spark and the driver "
        "image is in containerd"
    )
    return Overlay("spark overlay (node)", values, reasons)


def spark_config() -> dict:
    """The existing target's `spark:` section: the kind target's profile choices (the seed's
    1g/2g driver memory, through the hub's profile options), drivers as pods."""
    spark = dict(load_kind_pins().raw["spark"])
    # The hub's spawn options (hub.USER_OPTIONS: driver memory as the free text 1G, so python
    # kernels start) are merged under every choice's: a choice clears the free text, or
    # KubeSpawner would take it over the listed choice (unlisted_choice wins when non-empty).
    cleared = {key: "" for key in USER_OPTIONS}
    spark["choices"] = [
        {**choice, "user_options": {**cleared, **choice["user_options"]}}
        for choice in spark["choices"]
    ]
    spark["kernelspec"] = KERNELSPEC
    spark["launch_timeout"] = LAUNCH_TIMEOUT_S
    spark["local_mode"] = False
    return spark
