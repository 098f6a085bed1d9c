"""Fixtures of the operator and security suite (the machinery is in `support.opskit`)."""

from __future__ import annotations

import pytest

from support.opskit import SecureCluster, make_certs, write_credentials


@pytest.fixture
def cluster(tmp_path):
    c = SecureCluster(tmp_path)
    yield c
    c.stop()
    print(c.logs())  # pytest shows captured output only for failed tests


@pytest.fixture
def creds(tmp_path):
    return write_credentials(tmp_path / "secrets")


@pytest.fixture
def certs(tmp_path):
    return make_certs(tmp_path / "tls")
