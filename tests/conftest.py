"""Shared fixtures: external referees, the PostgreSQL test database, the real-world vectors.

Under CI=true a missing referee, database or vector folder fails the run instead of
skipping: interop and PostgreSQL tests are part of the contract, not extras.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
REPO_ROOT = Path(__file__).resolve().parents[1]


def require(available: object, what: str) -> None:
    """Skip locally, fail in CI, when an external part the test needs is missing."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI but is not available")
    pytest.skip(f"{what} is not available")


@pytest.fixture(scope="session")
def openssl_bin() -> str:
    path = shutil.which("openssl")
    require(path, "the OpenSSL 3 CLI")
    version = subprocess.run([path, "version"], capture_output=True, text=True).stdout
    require(version.startswith("OpenSSL 3."), f"OpenSSL 3 (found {version.strip()!r})")
    return path


@pytest.fixture(scope="session")
def gmssl_sm2():
    try:
        from gmssl import sm2 as gmssl_sm2_module
    except ImportError:
        gmssl_sm2_module = None
    require(gmssl_sm2_module, "the gmssl reference implementation")
    return gmssl_sm2_module


@pytest.fixture(scope="session")
def pg_url() -> str:
    url = os.environ.get("ESEAL_TEST_DATABASE_URL")
    require(url, "ESEAL_TEST_DATABASE_URL (PostgreSQL test database)")
    return url


def _shared_vectors() -> Path | None:
    candidates = [os.environ.get("ESEAL_SHARED_VECTORS"), REPO_ROOT.parent / "shared" / "vectors"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def shared_vectors() -> Path:
    path = _shared_vectors()
    require(path, "../shared/vectors (real-world test material)")
    return path


@pytest.fixture
def pki_server():
    """A local HTTP server (verify.testing.PKIServer) for a test PKI's CRLs and OCSP."""
    from verify.testing import PKIServer

    with PKIServer() as srv:
        yield srv


@pytest.fixture
def pki(pki_server):
    """A test CA hierarchy (verify.testing.TestPKI) with its CRL and OCSP served over HTTP."""
    from verify.testing import TestPKI

    return TestPKI(pki_server)
