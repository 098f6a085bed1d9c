"""ansible-lint, production profile, over the toolkit's roles, playbooks and inventories."""
from __future__ import annotations

import time

from conftest import REPO, VENV_BIN, record, run, tail, toolkit_env

# Every role and playbook (a new one is linted without being listed), the inventories and
# the shared Molecule configuration.
PATHS = ["roles", "playbooks", "inventory", "molecule"]


def test_ansible_lint_production(logs_dir):
    start = time.monotonic()
    proc = run([str(VENV_BIN / "ansible-lint"), "--profile", "production", "--nocolor", "--offline",
                *[p for p in PATHS if (REPO / p).exists()]],
               env=toolkit_env(), log=logs_dir / "ansible-lint.log", timeout=600)
    record("ansible-lint (production)", time.monotonic() - start)
    assert proc.returncode == 0, tail(proc, 60)
