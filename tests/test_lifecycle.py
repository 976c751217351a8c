"""No loss on change: an environment walked through edits, reconcile after reconcile.

Crossplane deletes a composed resource the function stops returning; with `Delete` in its
policies that also deletes the external resource (a control plane, a group's namespace). So
after each edit the tests reconcile until nothing waits and check, every round, that what
was dropped is what the edit removed, and that nothing that should be protected is dropped
while the observed resource could still delete it (see `Context.release_removed`): only an
entry that chose `protect: false` is deleted when removed.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pytest
from crossplane.function import resource

from function.compose.common import PROTECT_ANNOTATION
from function.flavour import flavour_of, is_protected
from function.resolve import parse
from tests import factories as f

NAMESPACES = pytest.mark.parametrize("namespace", ["platform", None], ids=["namespaced", "cluster"])


class Walk:
    """An environment under edit: the XR, the settled observed state, and each edit's rounds."""

    def __init__(self, spec: dict[str, Any], namespace: str | None) -> None:
        self.namespace = namespace
        self.spec = spec
        self.rounds = f.reconcile(self.xr())
        self.observed = self._settled()

    def xr(self) -> dict[str, Any]:
        return f.xr(self.spec, namespace=self.namespace)

    def edit(self, spec: dict[str, Any]) -> None:
        """Apply a new spec and reconcile until it settles, checking every round."""
        protected = protected_names(self.xr())
        self.spec = spec
        self.rounds = f.reconcile(self.xr(), self.observed)
        for observed, rsp in self.rounds:
            assert_nothing_protected_is_deleted(self.xr(), observed, rsp, protected)
        self.observed = self._settled()

    def names(self) -> set[str]:
        return set(self.observed)

    def dropped(self) -> dict[str, int]:
        """Names dropped during the last edit, with the round that dropped them."""
        out: dict[str, int] = {}
        for number, (observed, rsp) in enumerate(self.rounds):
            for name in set(observed) - set(rsp.desired.resources):
                out.setdefault(name, number)
        return out

    def _settled(self) -> dict[str, fnv1.Resource]:
        _, rsp = self.rounds[-1]
        return f.observe(f.desired(rsp))


def protected_names(xr: dict[str, Any]) -> set[str]:
    """Groups, control planes, teams, robots and repositories the spec protects."""
    env = parse(xr, None)
    names = {f"group.{g.name}" for g in env.groups if g.protect}
    names |= {f"team.{t.name}" for t in env.teams if env.protects(t)}
    names |= {f"robot.{r.name}" for r in env.robots if env.protects(r)}
    names |= {f"repository.{r.name}" for r in env.repositories if env.protects(r)}
    return names | {f"controlplane.{c.group}.{c.name}" for c in env.control_planes() if c.protect}


def assert_nothing_protected_is_deleted(
    xr: dict[str, Any],
    observed: dict[str, fnv1.Resource],
    rsp: fnv1.RunFunctionResponse,
    protected_before: set[str],
) -> None:
    """A resource dropped while it could still delete was composed unprotected on purpose.

    A protected one leaves desired state only once it is observed protected. An unprotected
    group or control plane goes only if its entry chose so (annotation "false"), or, composed
    before the annotation existed, if the defaults do not protect.
    """
    env = parse(xr, None)
    flavour = flavour_of(env)
    for name in set(observed) - set(rsp.desired.resources):
        body = resource.struct_to_dict(observed[name].resource)
        if is_protected(flavour, body["spec"]):
            continue
        assert name not in protected_before, f"{name} dropped while it could still delete"
        if name.startswith(("group.", "controlplane.")):
            recorded = body["metadata"].get("annotations", {}).get(PROTECT_ANNOTATION)
            on_purpose = recorded == "false" or (recorded is None and not env.default_protect)
            assert on_purpose, f"{name} deleted though it was not composed unprotected"


@NAMESPACES
def test_adding_a_group_keeps_everything_and_orders_the_new(namespace: str | None) -> None:
    walk = Walk(f.spec(), namespace)
    before = walk.names()
    spec = copy.deepcopy(walk.spec)
    spec["groups"].append({"name": "staging", "controlPlanes": [{"name": "ctp1"}]})
    walk.edit(spec)
    added = {"group.staging", "controlplane.staging.ctp1", "argocd-cluster.staging.ctp1"}
    assert walk.names() == before | added
    assert walk.dropped() == {}
    first = set(walk.rounds[0][1].desired.resources)
    assert first == before | {"group.staging"}, "the new control plane waits for its group"


@NAMESPACES
def test_removing_a_protected_control_plane_orphans_it(namespace: str | None) -> None:
    walk = Walk(f.spec(), namespace)
    before = walk.names()
    spec = copy.deepcopy(walk.spec)
    spec["groups"][0]["controlPlanes"] = [spec["groups"][0]["controlPlanes"][0]]  # drop dev/ctp2
    walk.edit(spec)
    gone = {"controlplane.dev.ctp2", "argocd-cluster.dev.ctp2"}
    assert walk.names() == before - gone
    # It was composed protected, so it may go at once: Crossplane deletes only the Object.
    assert walk.dropped() == dict.fromkeys(gone, 0)


@NAMESPACES
def test_removing_an_unprotected_control_plane_deletes_it(namespace: str | None) -> None:
    spec = f.spec(controlPlaneDefaults={"protect": False})
    walk = Walk(spec, namespace)
    before = walk.names()
    _, rsp = walk.rounds[-1]
    composed = f.desired(rsp)["controlplane.prod.ctp1"]["spec"]
    assert not is_protected(flavour_of(parse(walk.xr(), None)), composed)
    spec = copy.deepcopy(spec)
    del spec["groups"][1]
    walk.edit(spec)
    gone = {"group.prod", "controlplane.prod.ctp1", "argocd-cluster.prod.ctp1"}
    assert walk.names() == before - gone
    assert walk.dropped() == dict.fromkeys(gone, 0)


@NAMESPACES
def test_an_unprotected_entry_under_protecting_defaults_is_deleted(namespace: str | None) -> None:
    """An entry that said `protect: false` is deleted when removed: that was its choice.

    The function recorded the choice on the Object (PROTECT_ANNOTATION), so it does not fall
    back on `controlPlaneDefaults.protect: true` once the entry is gone.
    """
    spec = f.spec()
    spec["groups"][1]["controlPlanes"][0]["protect"] = False
    walk = Walk(spec, namespace)
    _, settled = walk.rounds[-1]
    composed = f.desired(settled)["controlplane.prod.ctp1"]
    assert composed["metadata"]["annotations"] == {PROTECT_ANNOTATION: "false"}
    spec = copy.deepcopy(spec)
    spec["groups"][1]["controlPlanes"] = []
    walk.edit(spec)
    assert walk.dropped() == {"argocd-cluster.prod.ctp1": 0, "controlplane.prod.ctp1": 0}
    assert "group.prod" in walk.names()


@NAMESPACES
def test_an_unprotected_entry_from_an_earlier_version_is_orphaned_first(
    namespace: str | None,
) -> None:
    """An Object composed before PROTECT_ANNOTATION existed: protecting defaults decide.

    Its entry's intent is unknown, so the function errs on keeping the control plane: it
    re-applies the Object once with protection, then drops it.
    """
    spec = f.spec()
    spec["groups"][1]["controlPlanes"][0]["protect"] = False
    walk = Walk(spec, namespace)
    walk.observed = _without_protect_annotations(walk.observed)
    spec = copy.deepcopy(spec)
    spec["groups"][1]["controlPlanes"] = []
    walk.edit(spec)
    first_observed, first = walk.rounds[0]
    kept = f.desired(first)["controlplane.prod.ctp1"]
    flavour = flavour_of(parse(walk.xr(), None))
    assert is_protected(flavour, kept["spec"]), "re-applied with protection"
    assert kept["metadata"]["annotations"][PROTECT_ANNOTATION] == "true"
    assert (
        kept["spec"]["forProvider"]
        == resource.struct_to_dict(first_observed["controlplane.prod.ctp1"].resource)["spec"][
            "forProvider"
        ]
    )
    assert "removed from the spec; orphaning it first" in _normal(first)
    assert walk.dropped() == {"argocd-cluster.prod.ctp1": 0, "controlplane.prod.ctp1": 1}
    assert "group.prod" in walk.names()


@NAMESPACES
def test_a_protected_control_plane_under_unprotecting_defaults_is_orphaned(
    namespace: str | None,
) -> None:
    spec = f.spec(controlPlaneDefaults={"protect": False})
    spec["groups"][1]["controlPlanes"][0]["protect"] = True
    walk = Walk(spec, namespace)
    protected = protected_names(walk.xr())
    assert {"group.prod", "controlplane.prod.ctp1"} <= protected
    assert "controlplane.dev.ctp1" not in protected
    spec = copy.deepcopy(spec)
    del spec["groups"][1]
    walk.edit(spec)  # checks: dropped only while observed protected
    assert walk.dropped() == dict.fromkeys(
        {"controlplane.prod.ctp1", "argocd-cluster.prod.ctp1"}, 0
    )
    # The group stays, protected: its record of ctp1, orphaned in its namespace, with it.
    assert "group.prod" in walk.names()


@NAMESPACES
def test_reordering_every_list_changes_nothing(namespace: str | None) -> None:
    walk = Walk(f.spec(), namespace)
    _, settled = walk.rounds[-1]
    spec = _reversed_lists(copy.deepcopy(walk.spec))
    assert spec != walk.spec
    walk.edit(spec)
    assert len(walk.rounds) == 1
    _, rsp = walk.rounds[0]
    assert rsp.SerializeToString(deterministic=True) == settled.SerializeToString(
        deterministic=True
    )


@NAMESPACES
def test_flipping_the_space_type_keeps_every_argo_cluster(namespace: str | None) -> None:
    walk = Walk(f.spec(), namespace)
    before = walk.names()
    first_names = _argo_secret_names(walk.rounds[-1][1])
    walk.edit(f.spec(space={"type": "Disconnected"}))
    assert walk.names() == before
    assert walk.dropped() == {}
    # The first round keeps the Cloud cluster Secrets until the kubeconfigs arrive.
    _, first = walk.rounds[0]
    config = _argo_config(first, "dev", "ctp1")
    assert "execProviderConfig" in config
    _, last = walk.rounds[-1]
    assert _argo_config(last, "dev", "ctp1")["bearerToken"] == f.KUBECONFIG_TOKEN

    walk.edit(f.spec(space={"type": "Connected", "host": "proxy.acme.example.com"}))
    assert walk.names() == before | {"space-ingress"}  # the Space's CA
    assert walk.dropped() == {}
    _, last = walk.rounds[-1]
    assert _argo_config(last, "dev", "ctp1")["execProviderConfig"]["env"] == {
        "ORGANIZATION": "acme"
    }
    # Each cluster Secret kept the name it was first composed with: Argo CD saw one cluster
    # change its server and credentials, never a second Secret beside a stale one.
    assert _argo_secret_names(walk.rounds[0][1]) == _argo_secret_names(last) == first_names


def _argo_secret_names(rsp: fnv1.RunFunctionResponse) -> dict[str, str]:
    return {
        name: f.manifest(composed)["metadata"]["name"]
        for name, composed in f.desired(rsp).items()
        if name.startswith("argocd-cluster.")
    }


@NAMESPACES
def test_renaming_an_entry_replaces_it(namespace: str | None) -> None:
    walk = Walk(f.spec(), namespace)
    before = walk.names()
    spec = copy.deepcopy(walk.spec)
    spec["groups"][1]["name"] = "production"
    spec["iam"]["teams"][1]["name"] = "apps"
    spec["iam"]["repositories"][0]["permissions"][1]["team"] = "apps"
    spec["groups"][0]["access"][1]["team"] = "apps"
    walk.edit(spec)
    # group.prod stays: its namespace still holds the orphaned ctp1 (docs/protection.md).
    gone = {
        "controlplane.prod.ctp1",
        "argocd-cluster.prod.ctp1",
        "team.app-team",
        "repository-permission.configs.app-team",
    }
    new = {
        "group.production",
        "controlplane.production.ctp1",
        "argocd-cluster.production.ctp1",
        "team.apps",
        "repository-permission.configs.apps",
    }
    assert walk.names() == (before - gone) | new
    assert set(walk.dropped()) == gone


@NAMESPACES
def test_renaming_a_protected_repository_orphans_the_old_one(namespace: str | None) -> None:
    """Renaming a repository must not delete the old one with its packages."""
    walk = Walk(f.spec(), namespace)
    spec = copy.deepcopy(walk.spec)
    spec["iam"]["repositories"][0]["name"] = "configurations"
    walk.edit(spec)
    gone = {
        "repository.configs",
        "repository-permission.configs.platform",
        "repository-permission.configs.app-team",
    }
    # All composed protected: dropping them orphans them (Crossplane deletes only the MRs).
    assert walk.dropped() == dict.fromkeys(gone, 0)
    assert "repository.configurations" in walk.names()


@NAMESPACES
def test_removing_a_robot_s_token_revokes_it_and_keeps_the_robot(namespace: str | None) -> None:
    walk = Walk(f.spec(), namespace)
    spec = copy.deepcopy(walk.spec)
    spec["iam"]["robots"][0]["tokens"] = []
    walk.edit(spec)
    # Unprotected in round 0, dropped (deleted, so the token is revoked) in round 1.
    assert walk.dropped() == {"robot-token.ci.ci": 1}
    _, first = walk.rounds[0]
    assert "removed from the spec; revoking it" in _normal(first)
    assert "robot.ci" in walk.names()


def test_a_resource_whose_prerequisite_turns_unready_stays() -> None:
    walk = Walk(f.spec(), "platform")
    observed = dict(walk.observed)
    body = resource.struct_to_dict(observed["group.dev"].resource)
    observed["group.dev"] = f.observe({"group.dev": body}, ready=False)["group.dev"]
    rsp = f.run(f.request(walk.xr(), observed=observed))
    assert set(rsp.desired.resources) == set(observed)


def _without_protect_annotations(
    observed: dict[str, fnv1.Resource],
) -> dict[str, fnv1.Resource]:
    """The observed state as an earlier version of the function composed it."""
    out = {}
    for name, composed in observed.items():
        body = resource.struct_to_dict(composed.resource)
        body["metadata"].get("annotations", {}).pop(PROTECT_ANNOTATION, None)
        out[name] = fnv1.Resource(
            resource=resource.dict_to_struct(body),
            connection_details=composed.connection_details,
        )
    return out


def _normal(rsp: fnv1.RunFunctionResponse) -> str:
    return "\n".join(r.message for r in rsp.results if r.severity == fnv1.SEVERITY_NORMAL)


def _argo_config(rsp: fnv1.RunFunctionResponse, group: str, name: str) -> dict[str, Any]:
    composed = f.desired(rsp)[f"argocd-cluster.{group}.{name}"]
    config: dict[str, Any] = json.loads(f.secret_data(composed)["config"])
    return config


def _reversed_lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _reversed_lists(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_reversed_lists(v) for v in reversed(value)]
    return value
