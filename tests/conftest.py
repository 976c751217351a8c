"""Shared fixtures: one real function server per test session, and hypothesis profiles."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests import crossplane_cli
from tests import server as fnserver

# `ci` (the default): bounded examples and no per-example deadline, because a 2-core CI
# machine's timing says nothing about correctness. `thorough`: many more examples, locally.
settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("thorough", parent=settings.get_profile("ci"), max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def debug_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[fnserver.Server]:
    """The real server (`--insecure --debug`), shared by every test that needs plain gRPC."""
    with fnserver.function_server(
        tmp_path_factory.mktemp("debug-server"), "--insecure", "--debug"
    ) as server:
        yield server


@pytest.fixture(scope="session")
def crossplane() -> crossplane_cli.CrossplaneCLI:
    """The real crossplane CLI (hack/crossplane/build); its tests skip only without Go."""
    return crossplane_cli.build()
