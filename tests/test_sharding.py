"""Sharding by group: the environment composes a ControlPlaneGroup per group, losslessly.

Every test plays Crossplane over several calls (tests/world.py): it deletes what an XR stops
returning, refuses to let one XR take over what another controls, and records every external
object (ControlPlane, Namespace, Argo CD Secret, IAM) that a deletion took with it.
"""

from __future__ import annotations

import copy
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pytest
from crossplane.function import resource

from function.api.controlplanegroup import ControlPlaneGroupSpec
from function.compose import shards
from function.compose.common import PROTECT_ANNOTATION
from function.flavour import is_protected
from function.resolve import parse
from tests import factories as f
from tests.schemas import assert_valid
from tests.world import GROUP_KIND, World

FLAVOURS = pytest.mark.parametrize("namespace", ["platform", None], ids=["namespaced", "cluster"])
# Protected by default; unprotected by default with one protected entry; and the reverse.
PROTECTIONS: dict[str, dict[str, Any]] = {
    "protected": {},
    "unprotected": {"controlPlaneDefaults": {"protect": False}},
    "mixed": {"controlPlaneDefaults": {"protect": False}, "protect_dev_ctp2": True},
}


def _spec(protection: str, sharding: str, **overrides: Any) -> dict[str, Any]:
    settings = dict(PROTECTIONS[protection])
    protect_one = settings.pop("protect_dev_ctp2", None)
    spec = f.spec(**settings, **overrides)
    spec["sharding"] = sharding
    if protect_one is not None:
        spec["groups"][0]["controlPlanes"][1]["protect"] = protect_one
    return spec


def _bodies(world: World) -> dict[str, dict[str, Any]]:
    """Every MR that exists now, by metadata.name, as last desired (status aside)."""
    xrs = [world.environment, *world.groups.values()]
    return {
        body["metadata"]["name"]: body
        for xr in xrs
        for body in xr.observed.values()
        if body["kind"] != GROUP_KIND
    }


def _status(world: World) -> dict[str, Any]:
    status = world.environment.body["status"]
    return {"controlPlanes": status["controlPlanes"], "summary": status["summary"]}


@FLAVOURS
@pytest.mark.parametrize("protection", sorted(PROTECTIONS))
@pytest.mark.parametrize("space", ["Cloud", "Disconnected", "Connected"])
def test_moving_to_and_from_groups_deletes_and_recreates_nothing(
    namespace: str | None, protection: str, space: str
) -> None:
    """Unsharded -> sharded -> unsharded: the same MRs (names and bodies) over the same
    external objects, nothing deleted, no XR ever asked to apply what another controls.
    Disconnected: the Argo CD Secrets come from kubeconfigs, connection details of the
    ControlPlane Objects, which their new owner gets only once it composes them. Connected:
    the host and CA come from the Space's ingress, which only the environment reads."""
    spaces = {
        "Cloud": {},
        "Disconnected": {"space": {"type": "Disconnected"}},
        "Connected": {"space": {"type": "Connected"}},
    }
    world = World(f.xr(_spec(protection, "Disabled", **spaces[space]), namespace=namespace))
    world.converge()
    unsharded, status = _bodies(world), _status(world)
    externals = set(world.externals)

    world.edit(_spec(protection, "Enabled", **spaces[space]))
    world.converge()
    assert world.deleted == []
    assert world.conflicts == []
    assert world.externals == externals
    assert _bodies(world) == unsharded, "the groups compose exactly what the environment did"
    owners = world.objects()
    assert {owners[b["metadata"]["name"]] for b in unsharded.values()} == {"acme"} | {
        g.name for g in world.groups.values()
    }
    assert _status(world) == status

    world.edit(_spec(protection, "Disabled", **spaces[space]))
    world.converge()
    assert world.deleted == []
    assert world.conflicts == []
    assert world.groups == {}
    assert _bodies(world) == unsharded
    assert set(world.objects().values()) == {"acme"}
    assert _status(world) == status


@FLAVOURS
def test_editing_while_moving_loses_nothing(namespace: str | None) -> None:
    """Edits land between the calls of a move: a control plane added, one removed (protected),
    a setting changed; the move goes on and only what the edits meant happens."""
    world = World(f.xr(_spec("protected", "Disabled"), namespace=namespace))
    world.converge()
    spec = _spec("protected", "Enabled")
    world.edit(spec)
    world.round()
    spec = copy.deepcopy(spec)
    spec["groups"][0]["controlPlanes"].append({"name": "ctp3"})
    del spec["groups"][1]["controlPlanes"][0]
    spec["controlPlaneDefaults"] = {"crossplane": {"autoUpgrade": {"channel": "Rapid"}}}
    world.edit(spec)
    world.round()
    spec = {**spec, "sharding": "Disabled"}
    world.edit(spec)
    world.converge()
    assert world.deleted == []
    assert world.conflicts == []
    names = {b["metadata"]["name"] for b in _bodies(world).values()}
    assert "acme-controlplane-dev-ctp3-" in " ".join(names)
    assert not any(n.startswith("acme-controlplane-prod-ctp1-") for n in names)


@FLAVOURS
def test_removing_a_sharded_group_deletes_only_what_chose_to_be(namespace: str | None) -> None:
    """As unsharded: a removed group's unprotected control planes go, protected ones stay."""
    world = World(f.xr(_spec("mixed", "Enabled"), namespace=namespace))
    world.converge()
    spec = _spec("mixed", "Enabled")
    del spec["groups"][0]  # dev: ctp1 unprotected, ctp2 protected (and so the group)
    world.edit(spec)
    world.converge()
    assert world.conflicts == []
    deleted = {e[-1] for e in world.deleted}
    assert "ctp1" in deleted
    assert "ctp2" not in deleted
    assert "dev" not in deleted, "a group that holds a protected control plane is protected"


def test_auto_shards_past_the_threshold_and_keeps_sharding_above_the_lower_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Auto engages above AUTO_ENGAGE; an environment sharded already stays so above AUTO_STAY,
    so a count that wobbles at the line does not move every group back and forth."""
    monkeypatch.setattr(shards, "AUTO_ENGAGE", 3)
    monkeypatch.setattr(shards, "AUTO_STAY", 2)
    spec = _spec("protected", "Auto")  # 3 control planes
    world = World(f.xr(spec))
    world.converge()
    assert world.groups == {}
    grown = copy.deepcopy(spec)
    grown["groups"][1]["controlPlanes"].append({"name": "ctp2"})  # 4
    world.edit(grown)
    world.converge()
    assert len(world.groups) == 2
    world.edit(spec)  # 3: above AUTO_STAY, so it stays sharded
    world.converge()
    assert len(world.groups) == 2
    shrunk = copy.deepcopy(spec)
    del shrunk["groups"][0]["controlPlanes"][1]  # 2
    world.edit(shrunk)
    world.converge()
    assert world.groups == {}
    assert world.conflicts == []
    # Only the Argo CD Secrets of the entries removed on the way (their ControlPlanes stay).
    deleted = sorted((kind, name.rsplit("-", 1)[0]) for kind, _, name in world.deleted)
    assert deleted == [("Secret", "controlplane-dev-ctp2"), ("Secret", "controlplane-prod-ctp2")]


def test_a_group_composes_valid_resources_and_reports_released_once_it_let_go_of_all() -> None:
    world = World(f.xr(_spec("unprotected", "Enabled")))
    world.converge()
    for group in world.groups.values():  # tests/test_api_schemas.py checks the XR itself
        for body in group.observed.values():
            assert_valid(body)
        assert group.body["status"]["released"] is False
    world.edit(_spec("unprotected", "Disabled"))
    world.round()  # the environment asks its groups to release; they orphan everything
    for group in world.groups.values():
        assert group.body["spec"]["release"] is True
        assert group.body["status"]["released"] is False  # not observed orphaning yet
    world.round()  # they drop what is orphaning: Crossplane deletes the MRs only
    for group in world.groups.values():
        assert group.body["status"]["released"] is False
        assert group.observed == {}
    world.round()
    for group in world.groups.values():
        assert group.body["status"]["released"] is True


def test_a_group_spec_carries_resolved_settings_and_the_token_secret_its_environment_names() -> (
    None
):
    """Settings come resolved; the token Secret only as the environment's spec names it, so
    that the group resolves and checks it by the same rules (function/validate.py)."""
    xr = f.xr(_spec("protected", "Enabled"))
    env = parse(xr, {"providerConfigs": {"space": "space-from-input"}})
    spec = shards.child_spec(env, env.groups[0])
    assert spec["environment"] == "acme"
    assert spec["providerConfigs"]["space"] == "space-from-input"
    assert spec["argocd"]["credentials"] == "Environment"
    assert "tokenSecretRef" not in spec["argocd"]
    cluster_secret = f.xr(_spec("protected", "Enabled", argocd=f.CLUSTER_SECRET))
    env = parse(cluster_secret, None)
    argocd = shards.child_spec(env, env.groups[0])["argocd"]
    assert argocd["credentials"] == "ClusterSecret"
    assert argocd["tokenSecretRef"] == {"name": "upbound-token", "key": "token"}
    from_input = {"argocd": {"credentials": "ClusterSecret", "tokenSecretRef": {"name": "t"}}}
    env = parse(xr, from_input)
    assert "tokenSecretRef" not in shards.child_spec(env, env.groups[0])["argocd"]


def test_a_namespaced_group_may_not_name_a_secret_outside_its_namespace() -> None:
    env = parse(f.xr(_spec("protected", "Enabled", argocd=f.CLUSTER_SECRET)), None)
    spec = shards.child_spec(env, env.groups[0])
    spec["argocd"]["tokenSecretRef"]["namespace"] = "crossplane-system"
    group = {
        "apiVersion": "platform.upbound.io/v1alpha1",
        "kind": "ControlPlaneGroup",
        "metadata": {"name": "acme-dev", "namespace": "tenant"},
        "spec": spec,
    }
    (message,) = f.fatal(f.run(f.request(group)))
    assert message.startswith("invalid ControlPlaneGroup; nothing was changed")
    assert "spec.argocd.tokenSecretRef.namespace" in message


def test_a_group_reads_hostile_group_status_defensively() -> None:
    """Whoever may write a ControlPlaneGroup's status could write anything there."""
    world = World(f.xr(_spec("protected", "Enabled")))
    world.converge()
    (group,) = (g for name, g in world.groups.items() if "-dev-" in name)
    group.body["status"]["controlPlanes"] = [
        "nonsense",
        {"name": "ctp1", "ready": "yes", "message": 7, "server": ["x"]},
    ]
    world.round()
    entries = {
        (e["group"], e["name"]): e for e in world.environment.body["status"]["controlPlanes"]
    }
    assert entries["dev", "ctp1"]["ready"] is False
    assert entries["dev", "ctp1"]["message"] == ""
    assert entries["dev", "ctp2"]["message"] == "waiting for ControlPlaneGroup dev to report it"


def test_protect_annotation_survives_the_move() -> None:
    world = World(f.xr(_spec("mixed", "Disabled")))
    world.converge()
    world.edit(_spec("mixed", "Enabled"))
    world.converge()
    annotations = {
        b["metadata"]["name"]: b["metadata"].get("annotations", {}).get(PROTECT_ANNOTATION)
        for b in _bodies(world).values()
        if b["metadata"]["name"].startswith("acme-controlplane-")
    }
    assert sorted(annotations.values()) == ["false", "false", "true"]


@FLAVOURS
def test_the_environment_reads_the_space_ingress_and_hands_it_to_its_groups(
    namespace: str | None,
) -> None:
    """One observe-only Object for the whole Space, the environment's: a group that composed
    its own would collide with every other group's (they share the environment's names)."""
    spec = _spec("protected", "Enabled", space={"type": "Connected"})
    world = World(f.xr(spec, namespace=namespace))
    world.converge()
    assert world.conflicts == []
    assert "space-ingress" in world.environment.observed
    for group in world.groups.values():
        ingress = {"host": f.INGRESS_HOST, "caBundle": f.CA_DATA.decode()}
        assert group.body["spec"]["ingress"] == ingress
        assert "space-ingress" not in group.observed
    servers = {e["server"] for e in world.environment.body["status"]["controlPlanes"]}
    assert all(server.startswith(f"https://{f.INGRESS_HOST}/") for server in servers)


def test_only_the_groups_ask_for_the_token_once_sharded() -> None:
    """The environment composes no Argo CD cluster itself: it asks Crossplane for no Secret."""
    world = World(f.xr(_spec("protected", "Enabled", argocd=f.CLUSTER_SECRET)))
    world.converge()
    assert world.environment.response is not None
    assert "upbound-token" not in world.environment.response.requirements.resources
    for group in world.groups.values():
        assert group.response is not None
        assert "upbound-token" in group.response.requirements.resources


def _group_resource(spec: dict[str, Any], status: dict[str, Any]) -> fnv1.Resource:
    body = {
        "apiVersion": "platform.upbound.io/v1alpha1",
        "kind": GROUP_KIND,
        "metadata": {"name": "acme-controlplanegroup-dev-0260f", "namespace": "platform"},
        "spec": spec,
        "status": status,
    }
    return fnv1.Resource(resource=resource.dict_to_struct(body))


def test_an_observed_group_is_never_dropped_while_the_environment_holds_its_objects() -> None:
    """Dropping it would delete what it composed; it stays, and waits for the hand-over."""
    _, observed = f.settle(f.xr(_spec("unprotected", "Disabled")))
    xr = f.xr(_spec("unprotected", "Enabled"))
    env = parse(xr, None)
    observed["controlplanegroup.dev"] = _group_resource(shards.child_spec(env, env.groups[0]), {})
    rsp = f.run(f.request(xr, observed=observed))
    assert "controlplanegroup.dev" in rsp.desired.resources
    # prod's Objects move first: its group composes nothing new until they have.
    prod = resource.struct_to_dict(rsp.desired.resources["controlplanegroup.prod"].resource)
    assert prod["spec"]["release"] is True


def test_a_group_is_dropped_only_once_asked_to_release_and_reporting_it_did() -> None:
    xr = f.xr(_spec("unprotected", "Disabled"))
    env = parse(xr, None)
    spec = shards.child_spec(env, env.groups[0])
    settled = f.settle(xr)[1]
    # Released, it stays until the environment observes the group's Object it composes
    # again: the group's record crosses on that.
    for asked, reported, taken_back, dropped in [
        (False, True, True, False),
        (True, False, True, False),
        (True, True, False, False),
        (True, True, True, True),
    ]:
        group = _group_resource({**spec, "release": asked}, {"released": reported})
        mine = {"group.dev": settled["group.dev"]} if taken_back else {}
        rsp = f.run(f.request(xr, observed={"controlplanegroup.dev": group, **mine}))
        assert ("controlplanegroup.dev" not in rsp.desired.resources) == dropped


@FLAVOURS
def test_a_sharded_group_binds_its_teams_by_the_ids_its_environment_observed(
    namespace: str | None,
) -> None:
    """The environment composes the Teams; a ControlPlaneGroup cannot observe them. The
    environment hands each group the IDs of its access teams (spec.teamIds), and the group
    composes the ObjectRoleBinding from them, as the environment would."""
    world = World(f.xr(_spec("protected", "Enabled"), namespace=namespace))
    world.converge()
    assert world.conflicts == []
    ids = {
        name.removeprefix("team."): body["metadata"]["annotations"][f.EXTERNAL_NAME]
        for name, body in world.environment.observed.items()
        if name.startswith("team.")
    }
    by_group = {xr.body["spec"]["group"]["name"]: xr for xr in world.groups.values()}
    dev = by_group["dev"]
    assert dev.body["spec"]["teamIds"] == {"app-team": ids["app-team"], "platform": ids["platform"]}
    assert "teamIds" not in by_group["prod"].body["spec"]  # prod has no access
    binding = dev.observed["access.dev"]
    assert_valid(binding)
    subjects = f.manifest(binding)["spec"]["subjects"]
    assert {s["name"] for s in subjects} == {ids["platform"], ids["app-team"]}
    assert "access.dev" not in world.environment.observed
    assert dev.body["status"]["access"] == [{"group": "dev", "ready": True, "message": "Ready"}]


def _unprotected_dev_desired(world: World, since: int) -> list[str]:
    """Each call since `since` in which an XR desired group dev's Object unprotected."""
    found = []
    for req, rsp in world.calls[since:]:
        xr = resource.struct_to_dict(req.observed.composite.resource)["metadata"]["name"]
        for name, body in f.desired(rsp).items():
            if name == "group.dev" and not is_protected(world.flavour, body["spec"]):
                found.append(f"{xr}: {name}")
    return found


@FLAVOURS
@pytest.mark.parametrize("start", ["Disabled", "Enabled"], ids=["to-groups", "from-groups"])
def test_a_group_holding_an_orphaned_protected_control_plane_stays_protected_across_a_move(
    namespace: str | None, start: str
) -> None:
    """Issue 9 meets issue 12. Unprotected by default, dev holds `keep`, protected, which is
    then removed from the spec (orphaned; the group's Object records it). The group moves
    between the environment and its ControlPlaneGroup, whose new owner observes neither the
    group's Object nor `keep`'s: the record crosses with the group (spec.heldProtected,
    status.heldProtected), so no call ever composes the Namespace unprotected, and removing
    the group afterwards orphans the Namespace rather than deleting it (and `keep` in it)."""
    spec = _spec("unprotected", start)
    spec["groups"][0]["controlPlanes"].append({"name": "keep", "protect": True})
    world = World(f.xr(spec, namespace=namespace))
    world.converge()
    spec = _spec("unprotected", start)  # keep removed: orphaned, the group still holds it
    world.edit(spec)
    world.converge()  # (keep's Argo CD cluster Secret goes: it is no longer registered)
    since, gone = len(world.calls), len(world.deleted)
    moved = "Enabled" if start == "Disabled" else "Disabled"
    world.edit(_spec("unprotected", moved))
    world.converge()
    assert _unprotected_dev_desired(world, since) == []
    assert world.conflicts == []
    assert world.deleted[gone:] == []
    spec = _spec("unprotected", moved)
    del spec["groups"][0]
    world.edit(spec)
    world.converge()
    assert _unprotected_dev_desired(world, since) == []
    deleted = world.deleted[gone:]
    assert ("Namespace", "", "dev") not in deleted, "keep's Namespace is orphaned, not deleted"
    assert ("Namespace", "", "dev") in world.externals
    assert ("ControlPlane", "dev", "ctp1") in deleted, "unprotected control planes still go"


def test_a_group_record_is_read_defensively_and_stays_bounded() -> None:
    """Anyone who may write a ControlPlaneGroup's status could write anything there: what is
    not a name is ignored, and a record past the annotation's limit becomes `*` (still
    protected), so the group's spec stays within its schema."""
    xr = f.xr(_spec("unprotected", "Enabled"))
    env = parse(xr, None)
    spec = shards.child_spec(env, env.groups[0])
    cases: list[tuple[dict[str, Any], list[str] | None]] = [
        ({"heldProtected": "keep"}, None),
        ({"heldProtected": [1, None, "", {"a": "b"}]}, None),
        ({"heldProtected": ["keep", 7]}, ["keep"]),
        ({"heldProtected": [f"cp{i:05}" for i in range(2000)]}, ["*"]),
    ]
    for status, expected in cases:
        observed = {"controlplanegroup.dev": _group_resource(spec, status)}
        rsp = f.run(f.request(xr, observed=observed))
        desired = f.desired(rsp)["controlplanegroup.dev"]
        assert desired["spec"].get("heldProtected") == expected
        ControlPlaneGroupSpec.model_validate(desired["spec"])
