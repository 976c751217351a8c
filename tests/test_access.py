"""The access builder: one ObjectRoleBinding per group, binding its teams by Upbound ID."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from function.compose import access, iam
from function.compose.common import PROTECT_ANNOTATION, Context
from function.flavour import flavour_of
from function.naming import metadata_name
from tests import factories as f
from tests.schemas import assert_valid, validate

PLATFORM_ID = "918a6338-abbe-420d-81cf-9e87642a87c6"
APP_TEAM_ID = "0b6e3c8e-5f1a-4f7e-9d8a-2c4b6e8f0a1c"
IDS = {"platform": PLATFORM_ID, "app-team": APP_TEAM_ID}


def ctx_with(
    spec: dict[str, Any] | None = None,
    observed: Any = ("group.dev", "group.prod"),
    *,
    team_ids: dict[str, str] | None = None,
    namespace: str | None = "platform",
) -> Context:
    """A Context whose team IDs are given, as a child XR composing one group would get them."""
    ctx = f.context(f.xr(spec or f.spec(), namespace=namespace), observed)
    return Context(
        env=ctx.env,
        flavour=ctx.flavour,
        observed=ctx.observed,
        team_ids=IDS if team_ids is None else team_ids,
    )


@pytest.mark.parametrize("namespace", ["platform", None], ids=["namespaced", "cluster"])
def test_a_binding_per_group_with_access(namespace: str | None) -> None:
    out = access.build(ctx_with(namespace=namespace))
    assert out.waiting == []
    composed = f.by_name(out)
    assert list(composed) == ["access.dev"]  # prod has no access
    body = composed["access.dev"]
    assert body["kind"] == "Object"
    assert body["spec"]["providerConfigRef"]["name"] == "upbound-space"
    assert f.manifest(body) == {
        "apiVersion": "authorization.spaces.upbound.io/v1alpha1",
        "kind": "ObjectRoleBinding",
        "metadata": {"name": "dev", "namespace": "dev"},
        "spec": {
            "object": {"apiGroup": "core", "resource": "namespaces", "name": "dev"},
            "subjects": [
                {"kind": "UpboundTeam", "name": APP_TEAM_ID, "role": "viewer"},
                {"kind": "UpboundTeam", "name": PLATFORM_ID, "role": "admin"},
            ],
        },
    }
    assert_valid(body)  # the Object, and the ObjectRoleBinding it wraps, against their CRDs
    # Protected with its group.
    assert body["metadata"]["annotations"] == {PROTECT_ANNOTATION: "true"}


def test_a_binding_waits_for_its_group() -> None:
    out = access.build(ctx_with(observed=()))
    assert f.by_name(out) == {}
    assert [(w.name, w.reason) for w in out.waiting] == [
        ("access.dev", "waiting for group dev to be ready")
    ]


def test_a_binding_waits_for_every_team_id_and_says_which() -> None:
    out = access.build(ctx_with(team_ids={"platform": PLATFORM_ID}))
    assert f.by_name(out) == {}
    [waiting] = out.waiting
    assert waiting.name == "access.dev"
    assert "waiting for the Upbound ID of team app-team" in waiting.reason


def test_an_existing_binding_binds_the_known_teams_while_a_new_team_waits_for_its_id() -> None:
    applied = f.by_name(access.build(ctx_with()))
    spec = f.spec()
    spec["iam"]["teams"].append({"name": "new-team"})
    # A new team without an ID yet, and app-team removed: it loses its role at once.
    spec["groups"][0]["access"] = [
        {"team": "platform", "role": "admin"},
        {"team": "new-team", "role": "editor"},
    ]
    observed = {"group.dev": f.observed_resource("group.dev"), **f.observe(applied)}
    out = access.build(ctx_with(spec, observed))
    subjects = f.manifest(f.by_name(out)["access.dev"])["spec"]["subjects"]
    assert subjects == [{"kind": "UpboundTeam", "name": PLATFORM_ID, "role": "admin"}]
    [waiting] = out.waiting
    assert "team new-team" in waiting.reason
    assert "meanwhile the binding grants the teams whose IDs are known" in waiting.reason


def test_team_ids_come_from_observed_teams_and_external_names() -> None:
    spec = f.spec()
    spec["iam"]["teams"][0]["externalName"] = PLATFORM_ID
    teams = f.by_name(iam.build(f.context(f.xr(spec))))
    ctx = f.context(f.xr(spec), {"group.dev": f.observed_resource("group.dev"), **f.observe(teams)})
    assert ctx.team_ids["platform"] == PLATFORM_ID
    # app-team's ID is the one provider-upbound recorded when it created the Team.
    app_team = metadata_name("acme", "team.app-team")
    assert ctx.team_ids["app-team"] == f.upbound_id(app_team)
    subjects = f.manifest(f.by_name(access.build(ctx))["access.dev"])["spec"]["subjects"]
    assert {s["name"] for s in subjects} == {PLATFORM_ID, f.upbound_id(app_team)}


def test_removing_a_group_s_access_revokes_its_binding() -> None:
    applied = f.by_name(access.build(ctx_with()))
    spec = f.spec()
    del spec["groups"][0]["access"]
    observed = {"group.dev": f.observed_resource("group.dev"), **f.observe(applied)}
    first = access.build(ctx_with(spec, observed))
    revoking = f.by_name(first)["access.dev"]
    assert revoking["spec"]["managementPolicies"] == ["*"]
    assert revoking["metadata"]["annotations"][PROTECT_ANNOTATION] == "false"
    observed["access.dev"] = f.observe({"access.dev": revoking})["access.dev"]
    second = access.build(ctx_with(spec, observed))
    assert f.by_name(second) == {}  # dropped: Crossplane deletes the binding
    assert second.waiting == []


def test_removing_a_protected_group_keeps_its_binding() -> None:
    applied = f.by_name(access.build(ctx_with()))
    spec = f.spec()
    del spec["groups"][0]
    out = access.build(ctx_with(spec, f.observe(applied)))
    assert f.by_name(out) == {}  # composed protected: dropping it orphans it
    assert out.waiting == []


def test_a_binding_of_an_unprotected_group_is_unprotected() -> None:
    spec = f.spec(controlPlaneDefaults={"protect": False})
    for cp in spec["groups"][0]["controlPlanes"]:
        cp["protect"] = False
    body = f.by_name(access.build(ctx_with(spec)))["access.dev"]
    assert "managementPolicies" not in body["spec"]
    assert flavour_of(ctx_with(spec).env).namespaced


def test_a_child_composing_one_group_binds_the_same() -> None:
    """The builder reads team IDs from the Context, not from observed Teams: a child XR that
    composes one group (the parent composes the Teams) gets the same binding."""
    whole = f.by_name(access.build(ctx_with()))["access.dev"]
    spec = copy.deepcopy(f.spec())
    spec["groups"] = [spec["groups"][0]]
    child = f.by_name(access.build(ctx_with(spec, ["group.dev"])))["access.dev"]
    assert f.manifest(child) == f.manifest(whole)


def test_the_schema_check_reaches_into_the_wrapped_binding() -> None:
    """tests/schemas.py validates the ObjectRoleBinding inside the Object against its CRD."""
    body = f.by_name(access.build(ctx_with()))["access.dev"]
    bad = copy.deepcopy(body)
    bad["spec"]["forProvider"]["manifest"]["spec"]["subjects"][0]["name"] = "a--b"
    assert validate(bad) == [
        "spec.forProvider.manifest.spec.subjects[0].name: 'a--b' does not match "
        "'^([a-zA-Z0-9]+-?)+[a-zA-Z0-9]$'"
    ]
