"""The repositories builder: repositories, permissions, and replacing a changed permission."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from function.compose import repositories
from function.compose.common import PROTECT_ANNOTATION
from function.naming import metadata_name
from tests import factories as f

NAMESPACES = pytest.mark.parametrize("namespace", ["platform", None], ids=["namespaced", "cluster"])
PERMISSION = "repository-permission.configs.app-team"


def test_repositories_and_permissions() -> None:
    out = f.by_name(repositories.build(f.context(f.xr())))
    assert sorted(out) == [
        "repository-permission.configs.app-team",
        "repository-permission.configs.platform",
        "repository.configs",
    ]
    repository = out["repository.configs"]
    assert repository["apiVersion"] == "repository.m.upbound.io/v1alpha1"
    assert repository["metadata"]["annotations"] == {
        "crossplane.io/external-name": "configs",
        PROTECT_ANNOTATION: "true",
    }
    assert repository["spec"]["forProvider"] == {
        "name": "configs",
        "organizationName": "acme",
        "public": False,
        "publish": False,
    }
    permission = out[PERMISSION]
    assert permission["spec"]["forProvider"] == {
        "organizationName": "acme",
        "permission": "read",
        "repositoryRef": {"name": metadata_name("acme", "repository.configs")},
        "teamIdRef": {"name": metadata_name("acme", "team.app-team")},
    }
    # Permissions follow their repository's protection.
    assert permission["spec"]["managementPolicies"] == repository["spec"]["managementPolicies"]


def test_an_unprotected_repository_and_its_permissions() -> None:
    spec = f.spec()
    spec["iam"]["repositories"][0]["protect"] = False
    out = f.by_name(repositories.build(f.context(f.xr(spec, namespace=None))))
    for body in out.values():
        assert "deletionPolicy" not in body["spec"]
        assert body["metadata"]["annotations"][PROTECT_ANNOTATION] == "false"


def with_level(level: str, *, protect: bool = True) -> dict[str, Any]:
    spec = f.spec()
    spec["iam"]["repositories"][0]["permissions"][1]["permission"] = level
    spec["iam"]["repositories"][0]["protect"] = protect
    return spec


@NAMESPACES
@pytest.mark.parametrize("protect", [True, False], ids=["protected", "unprotected"])
def test_a_changed_level_replaces_the_permission(namespace: str | None, protect: bool) -> None:
    """provider-upbound cannot update a Permission: delete the old, then create the new.

    Walked as Crossplane would: each round observes exactly what the last one desired (a
    resource the function stops returning is deleted, and gone by the next round).
    """
    rounds = f.reconcile(f.xr(with_level("read", protect=protect), namespace=namespace))
    observed = f.observe(f.desired(rounds[-1][1]))
    levels = []
    for _ in range(4):
        rsp = f.run(
            f.request(
                f.xr(with_level("write", protect=protect), namespace=namespace), observed=observed
            )
        )
        composed = f.desired(rsp)
        permission = composed.get(PERMISSION)
        levels.append(permission and permission["spec"]["forProvider"]["permission"])
        observed = f.observe(composed)
    if protect:
        # Unprotected first (still at the old level, so it is not mistaken for the new one),
        # then dropped (deleted), then created at the new level.
        assert levels == ["read", None, "write", "write"]
    else:
        assert levels == [None, "write", "write", "write"]
    assert (
        f.desired(rsp)[PERMISSION]["metadata"]["annotations"][PROTECT_ANNOTATION]
        == str(protect).lower()
    )


def test_an_unreadable_observed_level_changes_nothing() -> None:
    applied = f.by_name(repositories.build(f.context(f.xr())))
    applied[PERMISSION]["spec"]["forProvider"]["permission"] = {"not": "a level"}
    out = repositories.build(f.context(f.xr(), f.observe(applied)))
    assert f.by_name(out)[PERMISSION]["spec"]["forProvider"]["permission"] == "read"
    assert out.waiting == []


def test_a_removed_permission_of_a_kept_repository_is_revoked() -> None:
    spec = f.spec()
    applied = f.by_name(repositories.build(f.context(f.xr(spec))))
    after = copy.deepcopy(spec)
    del after["iam"]["repositories"][0]["permissions"][1]
    out = repositories.build(f.context(f.xr(after), f.observe(applied)))
    revoking = f.by_name(out)[PERMISSION]
    assert revoking["spec"]["managementPolicies"] == ["*"]
    assert [w.name for w in out.waiting] == [PERMISSION]


def test_a_removed_protected_repository_keeps_its_permissions() -> None:
    spec = f.spec()
    applied = f.by_name(repositories.build(f.context(f.xr(spec))))
    after = copy.deepcopy(spec)
    after["iam"]["repositories"] = []
    out = repositories.build(f.context(f.xr(after), f.observe(applied)))
    assert f.by_name(out) == {}  # all protected: dropping them orphans them
    assert out.waiting == []
