"""The README check and the order of all the checks."""

from __future__ import annotations

import os
import re

from . import common
from .cli import Cli
from .common import DEPLOY, ROOT, check, fail, ok
from .compose import check_compose
from .dockerfile import check_dockerfile
from .kubernetes import check_kubernetes


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
    if common.failures:
        print(f"check-deploy: {common.failures} check(s) failed")
        return 1
    print("check-deploy: all checks passed")
    return 0

