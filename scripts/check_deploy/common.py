"""What every check uses: the result lines (ok / FAIL / skip), the failure
count, the paths of deploy/, and YAML loading that refuses duplicate keys."""

from __future__ import annotations

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


# The repository: scripts/check_deploy/ is two levels below it.
ROOT = Path(__file__).resolve().parent.parent.parent
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
