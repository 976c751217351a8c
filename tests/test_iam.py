"""The IAM builder: provider-upbound teams, robots, memberships and tokens; team IDs."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from function.compose import iam
from function.compose.common import PROTECT_ANNOTATION, Composition
from function.naming import metadata_name
from tests import factories as f

TEAM_ID = "918a6338-abbe-420d-81cf-9e87642a87c6"
ROBOT_ID = "0b6e3c8e-5f1a-4f7e-9d8a-2c4b6e8f0a1c"
KEEP = ["Observe", "Create", "Update", "LateInitialize"]


def test_iam_resources_reference_each_other_by_name() -> None:
    out = f.by_name(iam.build(f.context(f.xr())))
    assert sorted(out) == [
        "robot-membership.ci.platform",
        "robot-token.ci.ci",
        "robot.ci",
        "team.app-team",
        "team.platform",
    ]
    team = out["team.platform"]
    assert team["apiVersion"] == "iam.m.upbound.io/v1alpha1"
    assert team["spec"]["forProvider"] == {"name": "platform", "organizationName": "acme"}
    assert team["spec"]["providerConfigRef"] == {"kind": "ClusterProviderConfig", "name": "default"}
    assert out["robot.ci"]["spec"]["forProvider"] == {
        "name": "ci",
        "description": "CI robot",
        "owner": {"name": "acme"},
    }
    membership = out["robot-membership.ci.platform"]["spec"]["forProvider"]
    assert membership == {
        "robotIdRef": {"name": out["robot.ci"]["metadata"]["name"]},
        "teamIdRef": {"name": team["metadata"]["name"]},
    }


def test_cluster_scoped_iam_kinds() -> None:
    out = f.by_name(iam.build(f.context(f.xr(namespace=None))))
    assert out["team.platform"]["apiVersion"] == "iam.upbound.io/v1alpha1"
    assert out["team.platform"]["spec"]["providerConfigRef"] == {"name": "default"}


def test_robots_get_a_description_when_none_is_given() -> None:
    spec = f.spec()
    spec["iam"]["robots"][0].pop("description")
    out = f.by_name(iam.build(f.context(f.xr(spec))))
    assert out["robot.ci"]["spec"]["forProvider"]["description"] == (
        "Managed by UpboundEnvironment acme"
    )


# --- Tokens -----------------------------------------------------------------------------------


def with_token(secret_ref: dict[str, Any]) -> dict[str, Any]:
    spec = f.spec()
    spec["iam"]["robots"][0]["tokens"] = [{"name": "argocd", "secretRef": secret_ref}]
    return spec


@pytest.mark.parametrize(
    ("namespace", "secret_ref", "written_to"),
    [
        # A namespaced MR writes its connection secret in its own namespace: only a name.
        ("platform", {"name": "argocd-up"}, {"name": "argocd-up"}),
        ("platform", {"name": "argocd-up", "namespace": "platform"}, {"name": "argocd-up"}),
        # A cluster-scoped XR names any namespace, else the input's connectionSecretNamespace.
        (
            None,
            {"name": "argocd-up", "namespace": "argocd"},
            {"name": "argocd-up", "namespace": "argocd"},
        ),
        (None, {"name": "argocd-up"}, {"name": "argocd-up", "namespace": "crossplane-system"}),
    ],
    ids=["namespaced", "namespaced-own-namespace", "cluster-any-namespace", "cluster-default"],
)
def test_a_robot_token_writes_its_secret(
    namespace: str | None, secret_ref: dict[str, Any], written_to: dict[str, str]
) -> None:
    out = f.by_name(iam.build(f.context(f.xr(with_token(secret_ref), namespace=namespace))))
    token = out["robot-token.ci.argocd"]
    assert token["kind"] == "Token"
    assert token["spec"]["forProvider"] == {
        "name": "argocd",
        "owner": {"type": "robots", "idRef": {"name": metadata_name("acme", "robot.ci")}},
    }
    assert token["spec"]["writeConnectionSecretToRef"] == written_to


# --- External names and team IDs -----------------------------------------------------------


def test_external_names_adopt_existing_teams_and_robots() -> None:
    spec = f.spec()
    spec["iam"]["teams"][0]["externalName"] = TEAM_ID
    spec["iam"]["robots"][0]["externalName"] = ROBOT_ID
    ctx = f.context(f.xr(spec))
    out = f.by_name(iam.build(ctx))
    assert out["team.platform"]["metadata"]["annotations"][iam.EXTERNAL_NAME] == TEAM_ID
    assert out["robot.ci"]["metadata"]["annotations"][iam.EXTERNAL_NAME] == ROBOT_ID
    assert iam.EXTERNAL_NAME not in out["team.app-team"]["metadata"]["annotations"]
    # An adopted team's ID is known before anything is observed.
    assert ctx.team_ids == {"platform": TEAM_ID}


def observed_team(external_name: Any) -> dict[str, Any]:
    body = f.by_name(iam.build(f.context(f.xr())))["team.platform"]
    body["metadata"]["annotations"][iam.EXTERNAL_NAME] = external_name
    return {"team.platform": body}


def test_a_created_team_s_id_comes_from_its_external_name_annotation() -> None:
    ctx = f.context(f.xr(), f.observe(observed_team(TEAM_ID)))
    assert ctx.team_ids == {"platform": TEAM_ID}
    # Carried forward: removing an externalName later must not make the provider lose it.
    out = f.by_name(iam.build(ctx))
    assert out["team.platform"]["metadata"]["annotations"][iam.EXTERNAL_NAME] == TEAM_ID


@pytest.mark.parametrize(
    "garbage",
    ["", "-leading", "double--dash", "z", "a" * 101, "ünïcode", "a" * 99 + "!", 42, {"a": 1}],
)
def test_an_observed_external_name_that_is_no_team_id_is_never_used(garbage: Any) -> None:
    ctx = f.context(f.xr(), f.observe(observed_team(garbage)))
    assert ctx.team_ids == {}
    out = iam.build(ctx)
    if isinstance(garbage, str) and garbage:
        assert len(out.warnings) == 1
        assert garbage not in out.warnings[0], "observed garbage is never quoted"


# --- Protection -----------------------------------------------------------------------------


def test_iam_is_protected_by_default_and_per_entry() -> None:
    spec = f.spec()
    spec["iam"]["teams"][1]["protect"] = False
    out = f.by_name(iam.build(f.context(f.xr(spec))))
    for name in ("team.platform", "robot.ci", "robot-membership.ci.platform", "robot-token.ci.ci"):
        assert out[name]["spec"]["managementPolicies"] == KEEP, name
        assert out[name]["metadata"]["annotations"][PROTECT_ANNOTATION] == "true"
    assert "managementPolicies" not in out["team.app-team"]["spec"]
    assert out["team.app-team"]["metadata"]["annotations"] == {PROTECT_ANNOTATION: "false"}


def test_iam_protect_false_unprotects_everything_but_entries_that_protect() -> None:
    spec = f.spec()
    spec["iam"]["protect"] = False
    spec["iam"]["robots"][0]["protect"] = True
    out = f.by_name(iam.build(f.context(f.xr(spec, namespace=None))))
    assert "deletionPolicy" not in out["team.platform"]["spec"]
    # A robot's membership and token follow the robot.
    for name in ("robot.ci", "robot-membership.ci.platform", "robot-token.ci.ci"):
        assert out[name]["spec"]["deletionPolicy"] == "Orphan", name


def build_after(spec_before: dict[str, Any], spec_after: dict[str, Any]) -> Composition:
    """Build IAM for `spec_after`, Crossplane having applied what `spec_before` composed."""
    applied = f.by_name(iam.build(f.context(f.xr(spec_before, namespace=None))))
    return iam.build(f.context(f.xr(spec_after, namespace=None), f.observe(applied)))


def test_a_removed_protected_robot_keeps_its_memberships_and_tokens() -> None:
    before = f.spec()
    after = copy.deepcopy(before)
    after["iam"]["robots"] = []
    out = build_after(before, after)
    # All were composed protected (Orphan): dropping them orphans them, the robot keeps working.
    assert sorted(f.by_name(out)) == ["team.app-team", "team.platform"]
    assert out.waiting == []


def test_a_removed_token_of_a_kept_protected_robot_is_revoked_after_unprotecting() -> None:
    before = f.spec()
    after = copy.deepcopy(before)
    after["iam"]["robots"][0]["tokens"] = []
    after["iam"]["robots"][0]["teams"] = []
    first = build_after(before, after)
    revoking = f.by_name(first)
    for name in ("robot-token.ci.ci", "robot-membership.ci.platform"):
        assert revoking[name]["spec"]["deletionPolicy"] == "Delete", name
        assert revoking[name]["metadata"]["annotations"][PROTECT_ANNOTATION] == "false"
    assert sorted(w.name for w in first.waiting) == [
        "robot-membership.ci.platform",
        "robot-token.ci.ci",
    ]
    assert all("revoking" in w.reason for w in first.waiting)
    applied = f.by_name(iam.build(f.context(f.xr(after, namespace=None))))
    second = iam.build(
        f.context(
            f.xr(after, namespace=None),
            f.observe({**applied, **{w.name: revoking[w.name] for w in first.waiting}}),
        )
    )
    # Unprotected now: not returned, so Crossplane deletes them, and the grant with them.
    assert sorted(f.by_name(second)) == ["robot.ci", "team.app-team", "team.platform"]
    assert second.waiting == []


def test_a_removed_team_from_an_earlier_version_follows_spec_iam_protect() -> None:
    before = f.spec()
    before["iam"]["teams"].append({"name": "old"})
    applied = f.by_name(iam.build(f.context(f.xr(before, namespace=None))))
    for body in applied.values():  # composed unprotected, before IAM was protected
        body["metadata"]["annotations"].pop(PROTECT_ANNOTATION)
        body["spec"].pop("deletionPolicy")
    after = copy.deepcopy(before)
    after["iam"]["teams"].pop()
    after["controlPlaneDefaults"] = {"protect": False}  # IAM does not follow control planes
    out = iam.build(f.context(f.xr(after, namespace=None), f.observe(applied)))
    assert f.by_name(out)["team.old"]["spec"]["deletionPolicy"] == "Orphan"
    assert [w.name for w in out.waiting] == ["team.old"]
