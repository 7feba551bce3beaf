"""Checks of deploy/docker-compose.yml."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections import Counter
from pathlib import Path

import yaml

from .cli import Cli, flag_value, port_of, under
from .common import COMPOSE, DOCKERFILE, ROOT, check, fail, ok, skip, yaml_load


def compose_interpolate(value):
    """${VAR:-default} / ${VAR-default} / ${VAR} as compose would, with defaults."""
    if isinstance(value, str):
        return re.sub(r"\$\{(\w+)(?::?-([^}]*))?\}",
                      lambda m: os.environ.get(m.group(1), m.group(2) or ""), value)
    if isinstance(value, list):
        return [compose_interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: compose_interpolate(v) for k, v in value.items()}
    return value


def as_argv(v) -> list[str]:
    if v is None:
        return []
    return shlex.split(v) if isinstance(v, str) else [str(x) for x in v]


def check_compose(cli: Cli, state: dict) -> None:
    name = "compose"
    try:
        doc = yaml_load(COMPOSE.read_text())
    except (OSError, yaml.YAMLError) as e:
        fail(f"{name}: parses", str(e).splitlines()[0])
        return
    doc = compose_interpolate(doc)
    services = doc.get("services") or {}
    ok(f"{name}: {COMPOSE.relative_to(ROOT)} parses ({len(services)} services)")

    cj = os.environ.get("CHECK_JSONSCHEMA")
    if cj:
        out = subprocess.run([cj, "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
                             capture_output=True, text=True)
        check(f"{name}: valid against the compose specification's schema",
              [] if out.returncode == 0 else (out.stdout + out.stderr).strip().splitlines()[:6])
    else:
        skip(f"{name}: compose-spec schema", "check-jsonschema not installed")

    entry = ["weir"]
    roles: dict[str, list[str]] = {}
    argvs: dict[str, list[str]] = {}
    problems = []
    for sname, svc in services.items():
        image = str(svc.get("image") or "")
        if not svc.get("build") and image.split("@")[0].split(":")[0].split("/")[-1] != "weir":
            ok(f"{name}: {sname}: not a weir service (image {image or '-'}), not checked")
            continue
        ep = as_argv(svc.get("entrypoint")) or entry
        argv = ep[1:] + as_argv(svc.get("command")) if Path(ep[0]).name == "weir" else None
        if argv is None:
            problems.append(f"{sname}: entrypoint {ep} is not weir")
            continue
        argvs[sname] = argv
        roles.setdefault(argv[0] if argv else "coordinator", []).append(sname)
    coords = roles.get("coordinator", [])
    workers = roles.get("worker", [])
    if coords != ["coordinator"]:
        problems.append(f"coordinator services: {coords}, expected one named `coordinator`")
    if len(workers) < 2:
        problems.append(f"{len(workers)} worker service(s), expected 2 or more")
    check(f"{name}: services coordinator + {len(workers)} workers ({', '.join(workers)})", problems)

    for sname, argv in argvs.items():
        check(f"{name}: {sname}: `weir {' '.join(argv)}` is valid for the CLI", cli.validate(argv))
    if not coords or not workers:
        return
    c_argv = argvs[coords[0]]
    c_svc = services[coords[0]]

    # The shared volume.
    top = doc.get("volumes") or {}
    problems = []
    mounts: dict[str, dict[str, str]] = {}
    for sname in coords + workers:
        for v in services[sname].get("volumes") or []:
            if isinstance(v, str):
                parts = v.split(":")
                src, tgt = (parts[0], parts[1]) if len(parts) >= 2 else (None, parts[0])
            else:
                src, tgt = v.get("source"), v.get("target")
            if src in top:
                mounts.setdefault(src, {})[sname] = tgt
    shared = [v for v, m in mounts.items() if set(m) == set(coords + workers) and len(set(m.values())) == 1]
    if not shared:
        problems.append(f"no named volume mounted at one path by all of {coords + workers} "
                        f"(have {mounts})")
    else:
        target = mounts[shared[0]][coords[0]]
        state["compose_shared"] = target
        dd = flag_value(c_argv, "--data-dir") or ".weir-coordinator"
        if not under(dd, [target]):
            problems.append(f"coordinator --data-dir {dd} (its checkpoints and savepoints) "
                            f"is not on the shared volume {target}")
        dirs = [flag_value(argvs[w], "--data-dir") for w in workers]
        dup = [d for d, n in Counter(dirs).items() if n > 1 and d and under(d, [target])]
        if dup:
            problems.append(f"workers share --data-dir {dup} on the shared volume")
    check(f"{name}: shared volume {shared[0] if shared else '?'} at "
          f"{mounts.get(shared[0], {}).get(coords[0]) if shared else '?'} in all "
          f"{len(coords + workers)} services, coordinator data dir on it", problems)

    # REST port, health check.
    problems = []
    rest_port = port_of(flag_value(c_argv, "--rest-addr")) or 8081
    rpc_port = port_of(flag_value(c_argv, "--rpc-addr")) or 6123
    published = []
    for p in c_svc.get("ports") or []:
        tgt = p.get("target") if isinstance(p, dict) else str(p).split("/")[0].split(":")[-1]
        published.append(int(tgt))
    if rest_port not in published:
        problems.append(f"REST port {rest_port} not published (ports: {published})")
    if (flag_value(c_argv, "--rest-addr") or "127.0.0.1").startswith("127."):
        problems.append("coordinator --rest-addr listens on loopback only")
    hc = c_svc.get("healthcheck") or {}
    test = " ".join(as_argv(hc.get("test")))
    if "/overview" not in test or str(rest_port) not in test:
        problems.append(f"healthcheck `{test}` does not GET /overview on port {rest_port}")
    tool = next((t for t in ("curl", "wget") if t in as_argv(hc.get("test"))), None)
    if tool and tool not in state.get("runtime_pkgs", [tool]):
        problems.append(f"healthcheck uses {tool}, which the runtime image does not install")
    check(f"{name}: coordinator publishes {rest_port}, healthcheck GET /overview", problems)

    # Workers: depend on the coordinator, reach it, advertise their names.
    problems = []
    for w in workers:
        svc, argv = services[w], argvs[w]
        dep = svc.get("depends_on") or {}
        if coords[0] not in dep:
            problems.append(f"{w} does not depend on {coords[0]}")
        elif isinstance(dep, dict) and (dep[coords[0]] or {}).get("condition") != "service_healthy":
            problems.append(f"{w} does not wait for {coords[0]} to be healthy")
        adv = flag_value(argv, "--advertise")
        if adv != w and adv not in (svc.get("hostname"), svc.get("container_name")):
            problems.append(f"{w} advertises {adv}, not its service name")
        target = flag_value(argv, "--coordinator") or ""
        if target != f"{coords[0]}:{rpc_port}":
            problems.append(f"{w} --coordinator {target}, expected {coords[0]}:{rpc_port}")
        bind = flag_value(argv, "--bind") or "127.0.0.1:0"
        if bind.startswith("127."):
            problems.append(f"{w} binds loopback only ({bind})")
    check(f"{name}: workers wait for a healthy coordinator, reach {coords[0]}:{rpc_port}, "
          "advertise their service names", problems)

    # Writable paths with read_only containers.
    problems = []
    for sname in coords + workers:
        svc, argv = services[sname], argvs[sname]
        if not svc.get("read_only"):
            continue
        writable = [m for m in mounts_of_compose(svc)]
        for p in [flag_value(argv, "--data-dir"), (svc.get("environment") or {}).get("WEIR_CACHE_DIR")]:
            if p and not under(p, writable):
                problems.append(f"{sname}: {p} is on the read-only root file system")
    check(f"{name}: read-only containers write only to volumes and tmpfs", problems)

    build = c_svc.get("build") or {}
    problems = []
    if build:
        ctx = (COMPOSE.parent / (build.get("context", ".") if isinstance(build, dict) else build)).resolve()
        df = ctx / (build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile")
        if ctx != ROOT:
            problems.append(f"build context {ctx} is not the repository root")
        if df.resolve() != DOCKERFILE.resolve():
            problems.append(f"builds {df}, not deploy/Dockerfile")
    else:
        problems.append("coordinator has no build section")
    check(f"{name}: builds deploy/Dockerfile from the repository root", problems)


def mounts_of_compose(svc: dict) -> list[str]:
    out = []
    for v in svc.get("volumes") or []:
        out.append(v.split(":")[1] if isinstance(v, str) and ":" in v else
                   (v.get("target") if isinstance(v, dict) else v))
    for t in svc.get("tmpfs") or []:
        out.append(t.split(":")[0])
    return [o for o in out if o]
