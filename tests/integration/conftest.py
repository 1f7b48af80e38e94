# SPDX-License-Identifier: AGPL-3.0-or-later
import os
import sys
import tempfile
import shutil

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Instance, Redis, make_cert  # noqa: E402


@pytest.fixture(scope="session")
def redis():
    tmp = tempfile.mkdtemp(prefix="sealmail-redis-")
    r = Redis(tmp)
    yield r
    r.stop()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def cert():
    tmp = tempfile.mkdtemp(prefix="sealmail-cert-")
    yield make_cert(tmp)
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def inst(redis, cert):
    """A fresh instance with domain example.test."""
    i = Instance(redis=redis, cert=cert)
    yield i
    i.cleanup()
