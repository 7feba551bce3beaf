"""Checks of deploy/Dockerfile and .dockerignore."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import tomllib

from .cli import Cli, flag_value, port_of
from .common import DOCKERFILE, ROOT, check, fail, skip


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
