"""Checks of deploy/kubernetes: the kustomization and what it renders."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections import Counter
from pathlib import Path

import yaml

from .cli import Cli, flag_value, port_of, under
from .common import K8S, check, fail, ok, skip, yaml_load_all


def load_all(path: Path) -> list[dict]:
    return [d for d in yaml_load_all(path.read_text()) if d is not None]


def render_kustomize() -> tuple[list[dict] | None, str]:
    kz = os.environ.get("KUSTOMIZE")
    if kz:
        out = subprocess.run(shlex.split(kz) + [str(K8S)], capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            return None, f"`{kz}` failed: {out.stderr.strip().splitlines()[-1:]}"
        return [d for d in yaml_load_all(out.stdout) if d], kz
    return None, ""


def python_render(kust: dict) -> list[dict]:
    """What kustomize does with this kustomization, as far as the checks need."""
    objs = []
    for r in kust.get("resources") or []:
        for d in load_all(K8S / r):
            d = json.loads(json.dumps(d))
            if kust.get("namespace") and d.get("kind") != "Namespace":
                d.setdefault("metadata", {})["namespace"] = kust["namespace"]
            objs.append(d)
    return objs


def container_env(c: dict, configmaps: dict[str, dict]) -> tuple[dict[str, str], list[str]]:
    env: dict[str, str] = {}
    problems = []
    for ef in c.get("envFrom") or []:
        ref = (ef.get("configMapRef") or {}).get("name")
        if ref:
            if ref not in configmaps:
                problems.append(f"envFrom names ConfigMap {ref}, which is not rendered")
            else:
                env.update({k: str(v) for k, v in (configmaps[ref].get("data") or {}).items()})
    for e in c.get("env") or []:
        if "value" in e:
            env[e["name"]] = str(e["value"])
        elif "valueFrom" in e:
            vf = e["valueFrom"]
            fr = (vf.get("fieldRef") or {}).get("fieldPath")
            env[e["name"]] = {"status.podIP": "10.0.0.7"}.get(fr, f"<{fr or 'ref'}>")
            km = vf.get("configMapKeyRef")
            if km:
                cm = configmaps.get(km.get("name"), {}).get("data") or {}
                if km.get("key") not in cm:
                    problems.append(f"env {e['name']}: ConfigMap {km.get('name')} has no key {km.get('key')}")
                else:
                    env[e["name"]] = str(cm[km["key"]])
    return env, problems


def expand(argv: list[str], env: dict[str, str]) -> tuple[list[str], list[str]]:
    missing = []

    def sub(m):
        if m.group(1) in env:
            return env[m.group(1)]
        missing.append(m.group(1))
        return m.group(0)

    return [re.sub(r"\$\((\w+)\)", sub, a) for a in argv], missing


def check_kubernetes(cli: Cli, state: dict) -> None:
    name = "kubernetes"
    files = sorted(K8S.glob("*.y*ml"))
    problems = []
    parsed: dict[str, list[dict]] = {}
    for f in files:
        try:
            parsed[f.name] = load_all(f)
        except yaml.YAMLError as e:
            problems.append(f"{f.name}: {str(e).splitlines()[0]}")
    check(f"{name}: {len(files)} YAML files parse", problems or ([] if files else ["no files"]))
    kust = (parsed.get("kustomization.yaml") or [{}])[0]
    resources = kust.get("resources") or []
    problems = [f"resource {r} missing" for r in resources if not (K8S / r).is_file()]
    unlisted = [f.name for f in files if f.name not in resources and f.name != "kustomization.yaml"]
    if unlisted:
        problems.append(f"not in the kustomization's resources: {', '.join(unlisted)}")
    check(f"{name}: kustomization lists {len(resources)} resources, all present", problems)
    if problems:
        return

    objs, how = render_kustomize()
    if objs is None and how:
        fail(f"{name}: kustomize renders", how)
        return
    if objs is not None:
        ok(f"{name}: `{how} deploy/kubernetes` renders {len(objs)} objects")
    else:
        skip(f"{name}: kustomize render", "no kustomize found; rendering the resources in Python")
        objs = python_render(kust)

    kinds = Counter(o.get("kind") for o in objs)
    want = {"Namespace": 1, "ConfigMap": 1, "Deployment": 2, "Service": 1, "PersistentVolumeClaim": 1}
    problems = [f"{k}: {kinds.get(k, 0)} (expected {n})" for k, n in want.items() if kinds.get(k, 0) != n]
    ns = kust.get("namespace")
    wrong_ns = [f"{o['kind']}/{o['metadata']['name']}" for o in objs
                if o.get("kind") != "Namespace" and o["metadata"].get("namespace") != ns]
    if wrong_ns:
        problems.append(f"not in namespace {ns}: {', '.join(wrong_ns)}")
    check(f"{name}: objects {', '.join(f'{k}x{v}' for k, v in sorted(kinds.items()))} in namespace {ns}",
          problems)

    kv = os.environ.get("KUBERNETES_VALIDATE")
    if kv:
        import tempfile
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as t:
            yaml.safe_dump_all(objs, t)
        out = subprocess.run([kv, "--strict", "--quiet", "--no-warn", t.name],
                             capture_output=True, text=True)
        os.unlink(t.name)
        msgs = [ln for ln in (out.stdout + out.stderr).strip().splitlines() if ln.strip()]
        check(f"{name}: rendered objects valid against the Kubernetes API schemas (strict)",
              [] if out.returncode == 0 else msgs[:6])
    else:
        skip(f"{name}: API schema validation", "kubernetes-validate not installed")

    by = {(o["kind"], o["metadata"]["name"]): o for o in objs}
    configmaps = {n: o for (k, n), o in by.items() if k == "ConfigMap"}
    deployments = [o for o in objs if o["kind"] == "Deployment"]
    pvcs = [o for o in objs if o["kind"] == "PersistentVolumeClaim"]
    services = [o for o in objs if o["kind"] == "Service"]

    roles: dict[str, tuple[dict, dict, list[str], dict[str, str]]] = {}
    for d in deployments:
        spec = d["spec"]["template"]["spec"]
        for c in spec.get("containers") or []:
            cmd = c.get("command") or ["weir"]
            label = f"{name}: {d['metadata']['name']}/{c['name']}"
            if Path(cmd[0]).name != "weir":
                fail(label, f"command {cmd} is not weir")
                continue
            env, problems = container_env(c, configmaps)
            argv, missing = expand(cmd[1:] + [str(a) for a in c.get("args") or []], env)
            problems += [f"$({m}) is defined by neither env nor envFrom" for m in missing]
            problems += cli.validate(argv)
            check(f"{label}: `weir {' '.join(argv)}` is valid for the CLI", problems)
            if argv:
                roles[argv[0]] = (d, c, argv, env)
    problems = [f"no Deployment runs `weir {r}`" for r in ("coordinator", "worker") if r not in roles]
    if problems:
        fail(f"{name}: a coordinator and a worker Deployment", "; ".join(problems))
        return

    cd, cc, cargv, _ = roles["coordinator"]
    wd, wc, wargv, wenv = roles["worker"]

    # Coordinator: one replica, probes, Service.
    problems = []
    if cd["spec"].get("replicas", 1) != 1:
        problems.append(f"coordinator replicas {cd['spec'].get('replicas')}: one only (no HA yet)")
    if (cd["spec"].get("strategy") or {}).get("type") != "Recreate":
        problems.append("coordinator strategy is not Recreate (two would share its data dir)")
    rest_port = port_of(flag_value(cargv, "--rest-addr")) or 8081
    rpc_port = port_of(flag_value(cargv, "--rpc-addr")) or 6123
    cports = {p.get("name"): p["containerPort"] for p in cc.get("ports") or []}
    for probe in ("readinessProbe", "livenessProbe"):
        hg = (cc.get(probe) or {}).get("httpGet") or {}
        port = cports.get(hg.get("port"), hg.get("port"))
        if hg.get("path") != "/overview" or port != rest_port:
            problems.append(f"{probe} is not GET /overview on port {rest_port} ({hg})")
    if (flag_value(cargv, "--rest-addr") or "127.").startswith("127.") or \
            (flag_value(cargv, "--rpc-addr") or "127.").startswith("127."):
        problems.append("coordinator listens on loopback only")
    check(f"{name}: coordinator Deployment: 1 replica, Recreate, probes GET /overview on {rest_port}",
          problems)

    problems = []
    plabels = cd["spec"]["template"]["metadata"].get("labels") or {}
    svc = next((s for s in services if s["spec"].get("selector")
                and all(plabels.get(k) == v for k, v in s["spec"]["selector"].items())), None)
    if svc is None:
        problems.append("no Service selects the coordinator's pods")
    else:
        sports = {}
        for p in svc["spec"].get("ports") or []:
            tp = p.get("targetPort", p["port"])
            sports[cports.get(tp, tp)] = p["port"]
        for want_port, what in ((rest_port, "REST"), (rpc_port, "RPC")):
            if want_port not in sports:
                problems.append(f"Service {svc['metadata']['name']} does not expose {what} ({want_port})")
        target = flag_value(wargv, "--coordinator") or ""
        host, _, port = target.rpartition(":")
        sname = svc["metadata"]["name"]
        if host.split(".")[0] != sname or int(port or 0) != sports.get(rpc_port):
            problems.append(f"workers' --coordinator {target} is not {sname}:{sports.get(rpc_port)}")
    check(f"{name}: Service {svc['metadata']['name'] if svc else '?'} exposes REST {rest_port} and "
          f"RPC {rpc_port}; workers connect to it", problems)
    for d in deployments:
        sel = d["spec"]["selector"].get("matchLabels") or {}
        lab = d["spec"]["template"]["metadata"].get("labels") or {}
        check(f"{name}: {d['metadata']['name']} selector matches its pod labels",
              [] if sel and all(lab.get(k) == v for k, v in sel.items()) else [f"{sel} vs {lab}"])
    sels = [tuple(sorted((d["spec"]["selector"].get("matchLabels") or {}).items())) for d in deployments]
    if len(set(sels)) != len(sels):
        fail(f"{name}: Deployments' selectors", "two Deployments select the same pods")

    # Workers: advertise the pod IP.
    problems = []
    adv_raw = [str(a) for a in (wc.get("command") or ["weir"])[1:] + (wc.get("args") or [])]
    adv = flag_value(adv_raw, "--advertise") or ""
    m = re.fullmatch(r"\$\((\w+)\)", adv)
    field = None
    if m:
        e = next((e for e in wc.get("env") or [] if e["name"] == m.group(1)), {})
        field = ((e.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
    if field != "status.podIP":
        problems.append(f"--advertise {adv or '(none)'} is not the pod IP (downward API status.podIP)")
    if (flag_value(wargv, "--bind") or "127.").startswith("127."):
        problems.append("worker binds loopback only")
    bport = port_of(flag_value(wargv, "--bind"))
    wports = [p["containerPort"] for p in wc.get("ports") or []]
    if not bport or bport not in wports:
        problems.append(f"worker --bind port {bport} is not a declared containerPort ({wports}); "
                        "probes and network policies need a fixed port")
    slots = flag_value(wargv, "--slots")
    limit = ((wc.get("resources") or {}).get("limits") or {}).get("cpu")
    if slots and limit and slots.isdigit():
        cpu = float(limit[:-1]) / 1000 if str(limit).endswith("m") else float(limit)
        if int(slots) > max(1, int(cpu)):
            problems.append(f"--slots {slots} above the CPU limit {limit}")
    check(f"{name}: worker Deployment ({wd['spec'].get('replicas', 1)} replicas) advertises "
          f"$(POD_IP) from status.podIP, serves on {bport}", problems)

    # The shared ReadWriteMany claim.
    problems = []
    rwx = [p for p in pvcs if "ReadWriteMany" in (p["spec"].get("accessModes") or [])]
    if not rwx:
        problems.append("no ReadWriteMany PersistentVolumeClaim")
    claim = rwx[0]["metadata"]["name"] if rwx else None
    paths = {}
    for role, (d, c, _, _) in roles.items():
        vols = {v["name"]: v for v in d["spec"]["template"]["spec"].get("volumes") or []}
        for vm in c.get("volumeMounts") or []:
            v = vols.get(vm["name"], {})
            if claim and (v.get("persistentVolumeClaim") or {}).get("claimName") == claim:
                paths[role] = vm["mountPath"]
    if set(paths) != {"coordinator", "worker"} or len(set(paths.values())) != 1:
        problems.append(f"claim {claim} mounted at {paths}: both need it at one path")
    else:
        dd = flag_value(cargv, "--data-dir") or ".weir-coordinator"
        if not under(dd, [paths["coordinator"]]):
            problems.append(f"coordinator --data-dir {dd} (checkpoints, savepoints) is not on the claim")
    check(f"{name}: ReadWriteMany claim {claim} mounted at {next(iter(paths.values()), '?')} by "
          "coordinator and workers; coordinator's data dir on it", problems)

    # Security and resources.
    uid = state.get("uid")
    for role, (d, c, argv, env) in roles.items():
        problems = []
        pod = d["spec"]["template"]["spec"]
        psc, csc = pod.get("securityContext") or {}, c.get("securityContext") or {}
        if not (csc.get("runAsNonRoot", psc.get("runAsNonRoot"))):
            problems.append("runAsNonRoot not set")
        run_as = csc.get("runAsUser", psc.get("runAsUser"))
        if uid is not None and run_as is not None and run_as != uid:
            problems.append(f"runAsUser {run_as} differs from the image's USER {uid}")
        if csc.get("allowPrivilegeEscalation") is not False:
            problems.append("allowPrivilegeEscalation not false")
        if "ALL" not in ((csc.get("capabilities") or {}).get("drop") or []):
            problems.append("capabilities not dropped")
        ro = csc.get("readOnlyRootFilesystem") is True
        if not ro:
            problems.append("readOnlyRootFilesystem not true")
        res = c.get("resources") or {}
        for kind in ("requests", "limits"):
            for r in ("cpu", "memory"):
                if r not in (res.get(kind) or {}):
                    problems.append(f"no {kind}.{r}")
        mounts = [vm["mountPath"] for vm in c.get("volumeMounts") or []]
        if ro:
            for p in (flag_value(argv, "--data-dir") or ".weir-" + role, env.get("WEIR_CACHE_DIR"), "/tmp"):
                if p and not under(p if p.startswith("/") else "/data/" + p, mounts):
                    problems.append(f"{p} is on the read-only root file system")
            if "WEIR_CACHE_DIR" not in env:
                problems.append("WEIR_CACHE_DIR unset: the component cache would go to $HOME (read-only)")
        exposed = state.get("exposed")
        for p in c.get("ports") or []:
            if exposed is not None and p["containerPort"] not in exposed:
                problems.append(f"containerPort {p['containerPort']} not EXPOSEd by the Dockerfile")
        check(f"{name}: {d['metadata']['name']}: non-root, no privilege escalation, read-only root, "
              "resources, writable paths on volumes", problems)

    images = {(c.get("image") or "").split(":")[0] for _, c, _, _ in roles.values()}
    want_img = {i.get("newName", i["name"]) for i in kust.get("images") or []}
    check(f"{name}: containers use the image {', '.join(sorted(images))}",
          [] if len(images) == 1 and (not want_img or images <= want_img)
          else [f"images {images}, kustomization sets {want_img}"])
