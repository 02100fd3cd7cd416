"""Kernel launcher speaking Enterprise Gateway's remote-launch protocol, on this machine.

EG's remote process proxies (Kubernetes, YARN, distributed) start a launcher that picks the
kernel's ports, sends them back encrypted to EG's response address, then runs the kernel.
This launcher does the same locally, so the local target exercises EG's real launch path:
its response manager, its launch timeout ("Waited too long ... to get connection file") and
its payload decryption. Written from EG 3.3's ResponseManager._decode_payload (version 1
payloads: RSA PKCS#1 v1.5 wrapped AES-ECB key, PKCS#7 padded JSON).

`--never-respond` is the seeded fault: the process runs but never reports its ports.

With `--spark-context-initialization-mode eager` (run under spark-submit by run_spark.py, as EG's
launch_ipykernel.py is) the SparkSession is created before the ports are reported, so EG's start
returns only once the driver is up, and a driver that cannot start fails the launch. The kernel
then runs in this process, which holds the driver's py4j gateway, with `spark` and `sc` defined.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import socket
import sys
import threading
import time
import uuid

from Cryptodome.Cipher import AES, PKCS1_v1_5
from Cryptodome.PublicKey import RSA
from Cryptodome.Random import get_random_bytes
from Cryptodome.Util.Padding import pad


def _free_ports(n: int, port_range: str) -> list[int]:
    lo, hi = (int(x) for x in port_range.split("..")) if ".." in port_range else (0, 0)
    ports, socks = [], []
    for _ in range(n):
        s = socket.socket()
        if lo and hi:
            # At random, as EG picks: launchers started together must not all try the same
            # lowest free ports first.
            for port in random.sample(range(lo, hi + 1), min(500, hi - lo + 1)):
                try:
                    s.bind(("127.0.0.1", port))
                    break
                except OSError:
                    continue
        else:
            s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def _payload(conn_info: dict, public_key: str) -> bytes:
    aes_key = get_random_bytes(16)
    data = pad(json.dumps(conn_info).encode(), 16)
    conn = base64.b64encode(AES.new(aes_key, AES.MODE_ECB).encrypt(data)).decode()
    pem = f"-----BEGIN PUBLIC KEY-----\n{public_key}\n-----END PUBLIC KEY-----"
    key = base64.b64encode(PKCS1_v1_5.new(RSA.import_key(pem)).encrypt(aes_key)).decode()
    body = json.dumps({"version": 1, "key": key, "conn_info": conn})
    return base64.b64encode(body.encode())


def _spark_namespace() -> dict:
    from pyspark.sql import SparkSession

    t0 = time.time()
    spark = SparkSession.builder.getOrCreate()
    print(f"SparkSession ready in {time.time() - t0:.1f}s: {spark.sparkContext.master}", flush=True)
    return {"spark": spark, "sc": spark.sparkContext}


def _end_with_the_driver() -> None:
    """The Python side of a Spark driver shares the driver's pod: when the JVM that started it
    dies, so does it (on Kubernetes the pod goes; here the orphan would keep its ports)."""
    driver = os.getppid()

    def watch() -> None:
        while os.getppid() == driver:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, name="driver-watch", daemon=True).start()


def _run_kernel_here(conn_file: str, kernel_class: str, namespace: dict) -> None:
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance(
        connection_file=conn_file, kernel_class=kernel_class, user_ns=namespace
    )
    app.initialize([])
    app.start()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel-id", required=True)
    ap.add_argument("--port-range", default="0..0")
    ap.add_argument("--response-address", required=True)
    ap.add_argument("--public-key", required=True)
    ap.add_argument("--kernel-class-name", default="ipykernel.ipkernel.IPythonKernel")
    ap.add_argument("--never-respond", action="store_true")
    ap.add_argument(
        "--spark-context-initialization-mode", choices=("none", "eager"), default="none"
    )
    ap.add_argument("--runtime-dir", default=os.environ.get("JUPYTER_RUNTIME_DIR", "/tmp"))
    args, _unknown = ap.parse_known_args()
    # A remote kernel (a pod) does not watch the gateway's process: it outlives a gateway crash
    # and stops only when EG shuts it down or kills it, which is what EG's session persistence
    # revives. jupyter_client sets JPY_PARENT_PID for children it launches; ipykernel would exit
    # with the gateway, a behaviour of this machine, not of the modelled deployment.
    os.environ.pop("JPY_PARENT_PID", None)

    if args.never_respond:
        print(f"launcher for {args.kernel_id}: seeded fault, never reporting ports", flush=True)
        while True:
            time.sleep(3600)

    namespace = _spark_namespace() if args.spark_context_initialization_mode == "eager" else None

    shell, iopub, stdin, control, hb = _free_ports(5, args.port_range)
    conn_info = {
        "shell_port": shell,
        "iopub_port": iopub,
        "stdin_port": stdin,
        "control_port": control,
        "hb_port": hb,
        "ip": "127.0.0.1",
        "key": uuid.uuid4().hex,
        "transport": "tcp",
        "signature_scheme": "hmac-sha256",
        "kernel_name": "",
    }
    os.makedirs(args.runtime_dir, exist_ok=True)
    conn_file = os.path.join(args.runtime_dir, f"kernel-{args.kernel_id}.json")
    with open(conn_file, "w") as fh:
        json.dump(conn_info, fh)
    reported = dict(conn_info, kernel_id=args.kernel_id, pid=os.getpid(), pgid=os.getpgid(0))
    host, port = args.response_address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(_payload(reported, args.public_key))
    if namespace is not None:
        _end_with_the_driver()
        _run_kernel_here(conn_file, args.kernel_class_name, namespace)
        return
    # exec keeps the pid EG recorded, so EG's signals (interrupt, shutdown) reach the kernel.
    os.execv(
        sys.executable,
        [
            sys.executable,
            "-m",
            "ipykernel_launcher",
            "-f",
            conn_file,
            f"--IPKernelApp.kernel_class={args.kernel_class_name}",
        ],
    )


if __name__ == "__main__":
    main()
