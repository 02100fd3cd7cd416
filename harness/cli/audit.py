"""`eg-harness audit`: check a deployment's helm values offline before installing them.

Without release options it audits clusters/kind/ as the kind target installs it (a fresh token
passed as a string, the kind target's network overlay, the seed's extra config and form), and
says what it layered over those files, key by key, with the same audit as explicit options
(also in --json: layers, assumptions, reproduce). Exit 0 clean, 1 findings, 2 unreadable input
or bad usage.
"""

from __future__ import annotations

import sys
from pathlib import Path

from eg_harness.errors import ConfigError
from eg_harness.runtime import progress as progress_mod


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "audit",
        help="render and check a deployment's EG and z2jh values offline (exit 0/1/2)",
        description=__doc__.splitlines()[0],
    )
    p.set_defaults(func=cmd_audit)
    for side, what in (("eg", "Enterprise Gateway's chart"), ("hub", "z2jh")):
        p.add_argument(
            f"--{side}-values",
            action="append",
            default=[],
            metavar="FILE",
            help=f"values file for {what} (repeatable, in helm's order)",
        )
        for flag in ("set", "set-string", "set-file"):
            p.add_argument(
                f"--{side}-{flag}",
                action="append",
                default=[],
                metavar="KEY=VALUE",
                help=f"as helm's --{flag} for {what}",
            )
    p.add_argument(
        "--images-local",
        action="store_true",
        help="images are loaded into the nodes (kind load): pull-policy traps on "
        "(always on for the default kind deployment)",
    )
    p.add_argument(
        "--gateway-profile",
        action="append",
        default=[],
        metavar="SLUG",
        help="profile whose user servers must run in gateway mode (default: profiles whose "
        "override mentions a gateway)",
    )
    p.add_argument(
        "--kubernetes-version",
        metavar="1.NN",
        help="Kubernetes version whose schemas to validate against (default: clusters/audit/"
        "charts.json, the kind node image's)",
    )
    p.add_argument("--z2jh-chart", metavar="PATH", help="z2jh 3.2.1 chart (directory or .tgz)")
    p.add_argument(
        "--fetch-z2jh",
        action="store_true",
        help="helm pull z2jh 3.2.1 into the cache when it is not there (needs internet)",
    )
    p.add_argument(
        "--upgrade-to",
        metavar="SET",
        help="instead of the traps: build each sample user's server with the hub side of the "
        "version set SET (clusters/audit/upgrade.json, e.g. z2jh-4) and of z2jh 3.2.1, and "
        "report what users would see change (pod and PVC names, volumes, env, image, resources)",
    )
    p.add_argument("--json", metavar="FILE", help="also write the result as JSON ('-': stdout)")
    p.add_argument(
        "--sarif",
        metavar="FILE",
        help="also write the findings as SARIF 2.1.0, located on the values files' lines",
    )


def _sets(side: str, args) -> list:
    from eg_harness.audit.deployment import SetArg

    out = []
    for flag in ("set", "set-string", "set-file"):
        for item in getattr(args, f"{side}_{flag.replace('-', '_')}"):
            if "=" not in item:
                raise ConfigError(f"--{side}-{flag} {item}: expected KEY=VALUE")
            key, value = item.split("=", 1)
            secret = "token" in key.lower()
            out.append(SetArg(f"--{flag}", key, value, secret=secret))
    return out


def deployment_from(args):
    from eg_harness.audit.deployment import Deployment, Release, kind_deployment
    from eg_harness.audit.tools import pins
    from eg_harness.runtime import secrets

    eg_sets, hub_sets = _sets("eg", args), _sets("hub", args)
    custom = args.eg_values or args.hub_values or eg_sets or hub_sets
    if not custom:
        dep = kind_deployment()
        dep.gateway_profiles = tuple(args.gateway_profile)
        return dep
    for s in eg_sets + hub_sets:
        if s.secret:
            secrets.register(s.value)
    p = pins()
    gateway = hub = None
    if args.eg_values or eg_sets:
        e = p["enterprise_gateway"]
        gateway = Release(e["release"], e["namespace"], [Path(f) for f in args.eg_values], eg_sets)
    if args.hub_values or hub_sets:
        h = p["jupyterhub"]
        hub = Release(h["release"], h["namespace"], [Path(f) for f in args.hub_values], hub_sets)
    files = [str(f) for f in args.eg_values + args.hub_values]
    return Deployment(
        gateway,
        hub,
        images_local=args.images_local,
        gateway_profiles=tuple(args.gateway_profile),
        label=", ".join(files) or "command-line values",
    )


def cmd_audit(args) -> int:
    from eg_harness.audit.runner import audit

    dep = deployment_from(args)
    console = progress_mod.console(sys.stderr)
    if args.upgrade_to:
        from eg_harness.audit import upgrade

        diff = upgrade.upgrade_diff(dep, args.upgrade_to, progress=console)
        return _print(upgrade.result(dep, diff), args)
    result = audit(
        dep,
        kubernetes_version=args.kubernetes_version,
        z2jh_chart=args.z2jh_chart,
        fetch_z2jh=args.fetch_z2jh,
        progress=console,
    )
    return _print(result, args)


def _print(result, args) -> int:
    from eg_harness.runtime import secrets

    print(secrets.redact(result.text()))
    if args.json:
        text = secrets.redact(result.model_dump_json(indent=2))
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    if args.sarif:
        import json

        from eg_harness.audit.sarif import to_sarif

        text = secrets.redact(json.dumps(to_sarif(result), indent=2))
        Path(args.sarif).write_text(text + "\n")
    return result.exit_code
