"""ansible-lint, production profile, over the toolkit's roles, playbooks and inventories."""
from __future__ import annotations

import time

from conftest import REPO, VENV_BIN, record, run, tail, toolkit_env

PATHS = [
    "roles/ironic_standalone", "roles/ironic_nodes", "roles/test_hosts", "roles/zookeeper",
    "roles/corral_runtime", "roles/corral_master", "roles/corral_agent",
    "playbooks/provision.yml", "playbooks/teardown.yml", "playbooks/images.yml", "playbooks/site.yml",
    "inventory", "molecule",
]


def test_ansible_lint_production(logs_dir):
    start = time.monotonic()
    proc = run([str(VENV_BIN / "ansible-lint"), "--profile", "production", "--nocolor", "--offline",
                *[p for p in PATHS if (REPO / p).exists()]],
               env=toolkit_env(), log=logs_dir / "ansible-lint.log", timeout=600)
    record("ansible-lint (production)", time.monotonic() - start)
    assert proc.returncode == 0, tail(proc, 60)
