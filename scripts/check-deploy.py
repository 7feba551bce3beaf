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

The checks are in the package scripts/check_deploy/ (one module for the
CLI, the Dockerfile, compose and Kubernetes); this file only runs them.
"""

import sys

# scripts/ is on sys.path as this script's directory.
from check_deploy.main import main

if __name__ == "__main__":
    sys.exit(main())
