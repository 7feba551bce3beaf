#!/usr/bin/env python3
"""Checks deploy/ without a container engine (run by scripts/check-deploy).

Prints one line per check (ok / FAIL / skip) and exits 1 when any check
failed. What it checks:

* the weir CLI: every container command in the Dockerfile, the compose file
  and the rendered Kubernetes manifests uses only subcommands and flags that
  `weir <sub> --help` of $WEIR_BIN lists, with its required flags, and the
  binary itself accepts the exact arguments (`weir <args> --help` parses
  every value: socket addresses, numbers);
* deploy/Dockerfile: its stages, the builder's cargo command against the one
  CI runs, the apt packages of scripts/setup-system-deps, the toolchain
  against the workspace's rust-version, the runtime's user, ports, volume,
  entrypoint and librocksdb package;
* deploy/docker-compose.yml: a coordinator, two or more workers, one shared
  volume at the same path, health check, dependencies, advertised names;
* deploy/kubernetes: every file parses, the kustomization renders (real
  kustomize when scripts/check-deploy found one), the expected objects, probes,
  the shared ReadWriteMany claim, security settings, resources, $(VAR)
  references, and writable paths on a read-only root file system.

Optional tools (passed in by scripts/check-deploy as environment variables):
KUSTOMIZE (a command rendering a directory), KUBERNETES_VALIDATE,
CHECK_JSONSCHEMA, HADOLINT.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

import yaml


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML keeps
    the last one silently; Kubernetes and compose tools reject it)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for k, _ in node.value:
                if k.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(k, deep=True)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", k.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def yaml_load(text: str):
    return yaml.load(text, Loader=StrictLoader)  # noqa: S506 (a SafeLoader)


def yaml_load_all(text: str):
    return yaml.load_all(text, Loader=StrictLoader)  # noqa: S506 (a SafeLoader)

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
COMPOSE = DEPLOY / "docker-compose.yml"
DOCKERFILE = DEPLOY / "Dockerfile"

failures = 0


def ok(name: str) -> None:
    print(f"ok   {name}")


def fail(name: str, why: str) -> None:
    global failures
    failures += 1
    print(f"FAIL {name}: {why}")


def skip(name: str, why: str) -> None:
    print(f"skip {name}: {why}")


def check(name: str, problems: list[str]) -> bool:
    """One line: ok, or FAIL with the problems found."""
    if problems:
        fail(name, "; ".join(problems))
        return False
    ok(name)
    return True


# ---------------------------------------------------------------- the CLI


class Cli:
    """What `weir ... --help` says: subcommands, options, usage."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.cache: dict[tuple[str, ...], dict] = {}

    def help(self, path: tuple[str, ...]) -> dict | None:
        if path in self.cache:
            return self.cache[path]
        try:
            out = subprocess.run(
                [self.binary, *path, "--help"],
                capture_output=True, text=True, timeout=30, check=False,
            )
        except OSError as e:
            raise SystemExit(f"FAIL weir binary: cannot run {self.binary}: {e}") from e
        if out.returncode != 0:
            self.cache[path] = None
            return None
        text = out.stdout
        model: dict = {"commands": set(), "options": {}, "required": set(),
                       "positionals": 0, "varargs": False}
        section = None
        for line in text.splitlines():
            if re.match(r"^(Commands|Options|Arguments):", line):
                section = line.split(":")[0]
                continue
            if line.startswith("Usage:"):
                usage = line[len("Usage:"):]
                # Required options: outside [...]; positionals: <X> outside
                # [...] not right after an option.
                bare = re.sub(r"\[[^\]]*\]", "", usage)
                model["required"] = set(re.findall(r"(--[\w-]+)", bare))
                no_opts = re.sub(r"--[\w-]+ <[^>]+>", "", bare)
                model["positionals"] = len(re.findall(r"<[^>]+>", no_opts))
                model["varargs"] = bool(re.search(r"\[[A-Z_]+\]\.\.\.", usage))
                continue
            if section == "Commands":
                m = re.match(r"^  ([a-z][\w-]*)\s", line + " ")
                if m and m.group(1) != "help":
                    model["commands"].add(m.group(1))
            elif section == "Options":
                m = re.match(r"^\s+(?:(-\w), )?(--[\w-]+)(?: <([^>]+)>)?", line)
                if m:
                    takes = m.group(3) is not None
                    model["options"][m.group(2)] = takes
                    if m.group(1):
                        model["options"][m.group(1)] = takes
        self.cache[path] = model
        return model

    def validate(self, argv: list[str]) -> list[str]:
        """Problems with `weir <argv>`; empty when the CLI takes it."""
        problems: list[str] = []
        path: tuple[str, ...] = ()
        rest = list(argv)
        model = self.help(path)
        if model is None:
            return [f"`{self.binary} --help` failed"]
        while rest and model["commands"]:
            sub = rest[0]
            if sub not in model["commands"]:
                return [f"`weir {' '.join(path + (sub,))}`: no such subcommand "
                        f"(have: {', '.join(sorted(model['commands']))})"]
            path += (sub,)
            rest = rest[1:]
            model = self.help(path)
            if model is None:
                return [f"`weir {' '.join(path)} --help` failed"]
        if model["commands"]:
            return [f"`weir {' '.join(path)}` needs a subcommand"]
        name = "weir " + " ".join(path)
        seen: set[str] = set()
        positionals = 0
        i = 0
        while i < len(rest):
            a = rest[i]
            if a.startswith("-") and a != "-" and not (model["varargs"] and positionals >= 1):
                flag, _, inline = a.partition("=")
                if flag not in model["options"]:
                    problems.append(f"`{name}` has no option {flag}")
                    i += 1
                    continue
                seen.add(flag)
                if model["options"][flag] and not inline:
                    if i + 1 >= len(rest):
                        problems.append(f"`{name} {flag}` needs a value")
                    i += 2
                    continue
                i += 1
                continue
            positionals += 1
            i += 1
        if positionals > model["positionals"] and not model["varargs"]:
            problems.append(f"`{name}` takes {model['positionals']} positional "
                            f"argument(s), got {positionals}")
        for r in sorted(model["required"] - seen):
            problems.append(f"`{name}` needs {r}")
        if not problems:
            # The binary parses every value itself (clap validates each value
            # as it reads it; --help then stops before anything runs).
            out = subprocess.run([self.binary, *argv, "--help"], capture_output=True,
                                 text=True, timeout=30, check=False)
            if out.returncode != 0:
                err = out.stderr.strip().splitlines()
                problems.append(f"`weir {' '.join(argv)}` rejected: {err[0] if err else out.returncode}")
        return problems


def flag_value(argv: list[str], flag: str) -> str | None:
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def port_of(addr: str | None) -> int | None:
    if not addr or ":" not in addr:
        return None
    try:
        return int(addr.rsplit(":", 1)[1])
    except ValueError:
        return None


def under(path: str, mounts: list[str]) -> bool:
    p = os.path.normpath(path)
    return any(p == os.path.normpath(m) or p.startswith(os.path.normpath(m).rstrip("/") + "/")
               for m in mounts)


# ------------------------------------------------------------- Dockerfile


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuations joined, comments dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and not buf):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        if buf.strip():
            word, _, args = buf.strip().partition(" ")
            out.append((word.upper(), args.strip()))
        buf = ""
    if buf.strip():
        word, _, args = buf.strip().partition(" ")
        out.append((word.upper(), args.strip()))
    return out


def shell_commands(run: str) -> list[list[str]]:
    """Simple commands of a RUN line (split at && ; || |), env assignments dropped."""
    while True:  # drop RUN's own --mount=... options
        m = re.match(r"^--[\w-]+=\S+\s+", run)
        if not m:
            break
        run = run[m.end():]
    cmds = []
    for part in re.split(r"&&|\|\||;|\|", run):
        try:
            toks = shlex.split(part)
        except ValueError:
            continue
        while toks and (re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", toks[0]) or toks[0] in ("exec", "export")):
            toks = toks[1:]
        if toks:
            cmds.append(toks)
    return cmds


def cargo_builds(cmds: list[list[str]]) -> list[list[str]]:
    return [c for c in cmds if len(c) >= 2 and c[0] == "cargo" and c[1] == "build"]


def ci_cargo_builds() -> tuple[list[list[str]], list[str]]:
    """`cargo build` commands of .ci/run and the scripts it runs (transitively)."""
    todo = [(ROOT / ".ci/run", None)]
    parent: dict[str, str | None] = {}
    builds: list[list[str]] = []
    where: list[str] = []
    while todo:
        f, via = todo.pop(0)
        rel = str(f.relative_to(ROOT))
        if rel in parent or not f.is_file():
            continue
        parent[rel] = via
        text = f.read_text()
        for line in text.splitlines():
            if line.strip().startswith("#"):
                continue
            for c in cargo_builds(shell_commands(line)):
                if c not in builds:
                    builds.append(c)
                    where.append(rel)
        for m in re.finditer(r"scripts/[\w.-]+", text):
            todo.append((ROOT / m.group(0), rel))
    # The chain from .ci/run to the (first) script running `cargo build`.
    chain: list[str] = []
    node = where[0] if where else ".ci/run"
    while node is not None:
        chain.insert(0, node)
        node = parent.get(node)
    return builds, chain


def apt_packages(cmds: list[list[str]]) -> list[str]:
    pkgs = []
    for c in cmds:
        if "install" in c and any(x.endswith("apt-get") or x == "apt" for x in c):
            for t in c[c.index("install") + 1:]:
                if not t.startswith(("-", ">", "$", "<")) and "=" not in t:
                    pkgs.append(t)
    return pkgs


def check_dockerfile(cli: Cli, state: dict) -> None:
    name = "Dockerfile"
    if not DOCKERFILE.is_file():
        fail(name, f"{DOCKERFILE.relative_to(ROOT)} missing")
        return
    ins = dockerfile_instructions(DOCKERFILE.read_text())
    args: dict[str, str] = {}
    stages: list[dict] = []
    for word, rest in ins:
        if word == "ARG" and not stages:
            k, _, v = rest.partition("=")
            args[k.strip()] = v.strip().strip('"')
        elif word == "FROM":
            toks = [t for t in rest.split() if not t.startswith("--platform")]
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), toks[0])
            alias = toks[2] if len(toks) >= 3 and toks[1].upper() == "AS" else None
            stages.append({"image": image, "alias": alias, "ins": []})
        elif stages:
            stages[-1]["ins"].append((word, rest))
    problems = []
    if len(stages) < 2:
        problems.append(f"{len(stages)} stage(s); a multi-stage build has two or more")
    if any(s["alias"] is None for s in stages[:-1]):
        problems.append("every stage but the last needs FROM ... AS <name>")
    listing = ", ".join(f"{st['alias']}={st['image']}" for st in stages)
    check(f"{name}: {len(stages)} stages ({listing})", problems)
    if len(stages) < 2:
        return
    builder = next((s for s in stages if s["image"].startswith("rust:")), stages[0])
    runtime = stages[-1]
    b_cmds = [c for w, r in builder["ins"] if w == "RUN" for c in shell_commands(r)]
    r_cmds = [c for w, r in runtime["ins"] if w == "RUN" for c in shell_commands(r)]

    # Toolchain: rust-toolchain(.toml) when present, else rust-version.
    problems = []
    m = re.match(r"rust:(\d+\.\d+)(?:\.\d+)?(?:-(\w+))?", builder["image"])
    want = None
    for tc in ("rust-toolchain.toml", "rust-toolchain"):
        p = ROOT / tc
        if p.is_file():
            t = p.read_text()
            mm = re.search(r"(\d+\.\d+)", t)
            want = ("==", mm.group(1) if mm else t.strip(), tc)
            break
    if want is None:
        rv = tomllib.loads((ROOT / "Cargo.toml").read_text()).get("workspace", {}).get(
            "package", {}).get("rust-version")
        if rv:
            want = (">=", rv, "Cargo.toml rust-version")
    if not m:
        problems.append(f"builder image {builder['image']} is not rust:<version>")
    elif want:
        have = tuple(int(x) for x in m.group(1).split("."))
        need = tuple(int(x) for x in want[1].split(".")[:2])
        if (want[0] == "==" and have != need) or (want[0] == ">=" and have < need):
            problems.append(f"rust {m.group(1)} vs {want[2]} {want[1]}")
    codename_b = m.group(2) if m else None
    codename_r = runtime["image"].split(":")[-1].split("-")[0] if ":" in runtime["image"] else None
    if codename_b and codename_r and codename_b != codename_r:
        problems.append(f"builder on {codename_b}, runtime on {codename_r}: the binary links "
                        "Debian's librocksdb, so both need the same release")
    check(f"{name}: builder toolchain {builder['image']} fits {want[2] if want else 'workspace'}"
          f" and the runtime's Debian release", problems)

    # The cargo command CI uses.
    ci_builds, scripts = ci_cargo_builds()
    d_builds = cargo_builds(b_cmds)
    problems = []
    if not ci_builds:
        problems.append(f"no `cargo build` found in {', '.join(scripts)}")
    if len(d_builds) != 1:
        problems.append(f"builder has {len(d_builds)} `cargo build` commands, expected 1")
    elif ci_builds and d_builds[0] not in ci_builds:
        problems.append(f"builder runs `{shlex.join(d_builds[0])}`, CI runs "
                        + " / ".join(f"`{shlex.join(c)}`" for c in ci_builds))
    check(f"{name}: builder's `{shlex.join(d_builds[0]) if d_builds else 'cargo build'}` is CI's "
          f"(via {' -> '.join(scripts)})", problems)

    # The package and binary it builds.
    problems = []
    if len(d_builds) == 1:
        c = d_builds[0]
        pkg = c[c.index("-p") + 1] if "-p" in c else None
        bins = {}
        for ct in ROOT.glob("*/*/Cargo.toml"):
            try:
                t = tomllib.loads(ct.read_text())
            except tomllib.TOMLDecodeError:
                continue
            if "package" in t:
                bins[t["package"]["name"]] = [b.get("name") for b in t.get("bin", [])] or [t["package"]["name"]]
        if pkg not in bins:
            problems.append(f"no workspace package named {pkg}")
        elif "weir" not in bins[pkg]:
            problems.append(f"package {pkg} builds {bins[pkg]}, not `weir`")
        copies = [r for w, r in runtime["ins"] if w == "COPY" and f"--from={builder['alias']}" in r]
        if not any(r.split()[-1] in ("/usr/local/bin/weir", "/usr/local/bin/") for r in copies):
            problems.append("runtime stage does not COPY --from=builder the binary to /usr/local/bin/weir")
        if not any("target/release/weir" in r for w, r in builder["ins"] if w in ("RUN", "COPY")):
            problems.append("builder never takes target/release/weir")
    check(f"{name}: builds package weir-cli's binary `weir` into /usr/local/bin/weir", problems)

    # System packages of scripts/setup-system-deps.
    deps = ROOT / "scripts/setup-system-deps"
    want_pkgs = apt_packages([c for line in deps.read_text().splitlines()
                              if not line.strip().startswith("#") for c in shell_commands(line)]
                             ) if deps.is_file() else []
    have_pkgs = apt_packages(b_cmds)
    missing = [p for p in want_pkgs if p not in have_pkgs]
    check(f"{name}: builder installs scripts/setup-system-deps' packages ({' '.join(want_pkgs) or 'none found'})",
          ([f"missing {' '.join(missing)}"] if missing else [])
          + ([] if want_pkgs else ["no apt-get install found in scripts/setup-system-deps"]))

    # Runtime: the librocksdb the binary links, certificates, curl for the
    # compose health check.
    r_pkgs = apt_packages(r_cmds)
    problems = []
    try:
        ldd = subprocess.run(["ldd", cli.binary], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        ldd = ""
    soname = re.search(r"librocksdb\.so\.(\d+\.\d+)", ldd)
    if soname and f"librocksdb{soname.group(1)}" not in r_pkgs:
        problems.append(f"the binary links librocksdb.so.{soname.group(1)}: runtime needs "
                        f"package librocksdb{soname.group(1)} (has {' '.join(r_pkgs)})")
    for p in ("ca-certificates",):
        if p not in r_pkgs:
            problems.append(f"runtime lacks {p}")
    check(f"{name}: runtime packages ({' '.join(r_pkgs)}) cover the binary's shared libraries"
          + ("" if soname else " (ldd: no librocksdb seen)"), problems)
    state["runtime_pkgs"] = r_pkgs

    # Runtime user, volume, ports, entrypoint.
    problems = []
    user = [r for w, r in runtime["ins"] if w == "USER"]
    uid = user[-1].split(":")[0] if user else None
    if not user or uid in ("root", "0"):
        problems.append("runtime runs as root (no USER)")
    elif not uid.isdigit():
        problems.append(f"USER {user[-1]}: use a numeric uid so Kubernetes' runAsNonRoot can verify it")
    state["uid"] = int(uid) if uid and uid.isdigit() else None
    vols = " ".join(r for w, r in runtime["ins"] if w == "VOLUME")
    if "/data" not in vols:
        problems.append("no VOLUME /data")
    entry = [r for w, r in runtime["ins"] if w == "ENTRYPOINT"]
    cmd = [r for w, r in runtime["ins"] if w == "CMD"]
    try:
        entry_v = json.loads(entry[-1]) if entry else None
        cmd_v = json.loads(cmd[-1]) if cmd else []
    except json.JSONDecodeError as e:
        entry_v, cmd_v = None, []
        problems.append(f"ENTRYPOINT/CMD not in exec (JSON) form: {e}")
    if entry_v not in (["weir"], ["/usr/local/bin/weir"]):
        problems.append(f"ENTRYPOINT is {entry_v}, expected [\"weir\"]")
    exposed = {int(p.split("/")[0]) for w, r in runtime["ins"] if w == "EXPOSE" for p in r.split()}
    state["exposed"] = exposed
    check(f"{name}: runtime USER {user[-1] if user else '-'}, VOLUME /data, ENTRYPOINT {entry_v}, "
          f"EXPOSE {' '.join(map(str, sorted(exposed)))}", problems)
    if cmd_v:
        problems = cli.validate(cmd_v)
        for f in ("--rest-addr", "--rpc-addr", "--bind"):
            p = port_of(flag_value(cmd_v, f))
            if p and p not in exposed:
                problems.append(f"CMD {f} port {p} is not EXPOSEd")
        check(f"{name}: CMD `weir {' '.join(cmd_v)}` is valid for the CLI", problems)
    else:
        skip(f"{name}: CMD", "none")

    # Build context.
    di = ROOT / ".dockerignore"
    lines = {ln.strip().rstrip("/").lstrip("/") for ln in di.read_text().splitlines()} if di.is_file() else set()
    missing = [p for p in ("target", ".git") if p not in lines and f"**/{p}" not in lines]
    check(".dockerignore keeps target/ and .git out of the build context",
          [f"missing {' '.join(missing)}"] if missing else [])

    hadolint = os.environ.get("HADOLINT")
    if hadolint:
        out = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
        lines = (out.stdout + out.stderr).strip().splitlines()
        check("Dockerfile: hadolint", [] if out.returncode == 0 else lines[:5])
    else:
        skip("Dockerfile: hadolint", "not installed")


# ---------------------------------------------------------------- compose


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


# ------------------------------------------------------------- kubernetes


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


# ------------------------------------------------------------------ README


def check_readme(cli: Cli) -> None:
    readme = DEPLOY / "README.md"
    if not readme.is_file():
        fail("deploy/README.md", "missing")
        return
    top = cli.help(()) or {"commands": set()}
    problems = []
    n = 0
    in_code = False
    for line in readme.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        if not in_code:
            continue
        # A command that is weir itself: at the start of the line or after
        # a shell separator (not `kubectl -n weir ...`).
        for m in re.finditer(r"(?:^|&&|\|\||[;|(]|\$ )\s*weir ([a-z][\w-]*)", line.strip()):
            n += 1
            if m.group(1) not in top["commands"]:
                problems.append(f"`weir {m.group(1)}`: no such subcommand")
    check(f"deploy/README.md: {n} weir commands in its examples name real subcommands", problems)


def main() -> int:
    binary = os.environ.get("WEIR_BIN") or str(ROOT / "target/release/weir")
    if not os.access(binary, os.X_OK):
        print(f"FAIL weir binary: {binary} not found (build it, or set WEIR_BIN)")
        return 1
    cli = Cli(binary)
    top = cli.help(())
    if not top or not top["commands"]:
        print(f"FAIL weir binary: `{binary} --help` lists no subcommands")
        return 1
    ok(f"weir binary {binary}: {len(top['commands'])} subcommands")
    state: dict = {}
    check_dockerfile(cli, state)
    check_compose(cli, state)
    check_kubernetes(cli, state)
    check_readme(cli)
    if failures:
        print(f"check-deploy: {failures} check(s) failed")
        return 1
    print("check-deploy: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
