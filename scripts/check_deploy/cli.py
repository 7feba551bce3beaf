"""The weir CLI as `weir ... --help` describes it, and argument helpers."""

from __future__ import annotations

import os
import re
import subprocess


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
