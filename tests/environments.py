"""The environments the end-to-end tests converge, and what a converged one must look like.

Shared by tests/test_e2e.py (hack/render.py, with connection details) and
tests/test_crossplane_cli.py (the real `crossplane render`): each Space type, both API
flavours, and the same checks on whatever renderer produced the rounds.

    xr = environment_xr("Connected", "cluster")
    rounds = converge(reconcile)            # reconcile(observed) renders one round
    assert_composed(final_desired, "cluster")
    assert_ordered([(observed, desired), ...])
    assert_status(final_xr["status"], final_desired, "Connected")
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from tests import factories as f
from tests.schemas import assert_valid

SPACES: dict[str, dict[str, Any]] = {
    "Cloud": {"type": "Cloud", "name": "upbound-gcp-us-west-1"},
    "Connected": {
        "type": "Connected",
        "host": "proxy.acme.example.com",
        "caBundle": f.CA_DATA.decode(),
    },
    "Disconnected": {"type": "Disconnected"},
    # Host and CA read from the Space's ConfigMap upbound-system/ingress-public.
    "Connected-discovered": {"type": "Connected"},
}
FLAVOURS = ("namespaced", "cluster")
CONTROL_PLANES = [("dev", "ctp1"), ("dev", "ctp2"), ("prod", "ctp1")]
EXPECTED_NAMES = {
    "group.dev",
    "group.prod",
    *(f"controlplane.{g}.{c}" for g, c in CONTROL_PLANES),
    *(f"argocd-cluster.{g}.{c}" for g, c in CONTROL_PLANES),
    "team.platform",
    "team.app-team",
    "robot.ci",
    "robot-membership.ci.platform",
    "robot-token.ci.ci",
    "access.dev",
    "repository.configs",
    "repository-permission.configs.platform",
    "repository-permission.configs.app-team",
}
KINDS = {
    "namespaced": {
        "Object": "kubernetes.m.crossplane.io/v1alpha1",
        "Team": "iam.m.upbound.io/v1alpha1",
        "Robot": "iam.m.upbound.io/v1alpha1",
        "RobotTeamMembership": "iam.m.upbound.io/v1alpha1",
        "Token": "iam.m.upbound.io/v1alpha1",
        "Repository": "repository.m.upbound.io/v1alpha1",
        "Permission": "repository.m.upbound.io/v1alpha1",
    },
    "cluster": {
        "Object": "kubernetes.crossplane.io/v1alpha2",
        "Team": "iam.upbound.io/v1alpha1",
        "Robot": "iam.upbound.io/v1alpha1",
        "RobotTeamMembership": "iam.upbound.io/v1alpha1",
        "Token": "iam.upbound.io/v1alpha1",
        "Repository": "repository.upbound.io/v1alpha1",
        "Permission": "repository.upbound.io/v1alpha1",
    },
}
MAX_ROUNDS = 10
RESOURCE_NAME = "crossplane.io/composition-resource-name"
# One round as Crossplane saw it: observed and desired composed resources by name.
Round = tuple[Mapping[str, Mapping[str, Any]], Mapping[str, Mapping[str, Any]]]


class Rendered(Protocol):
    """What a renderer printed for one round (hack.render's RenderResult, or the real CLI's)."""

    @property
    def xr(self) -> dict[str, Any]: ...  # the XR with its desired status and conditions
    @property
    def composed(self) -> list[dict[str, Any]]: ...  # desired composed resources
    @property
    def results(self) -> list[dict[str, Any]]: ...  # render.crossplane.io Result objects


R = TypeVar("R", bound=Rendered)
Observed = dict[str, dict[str, Any]]


def converge(reconcile: Callable[[Observed], R], *, ready_lag: int = 1) -> list[tuple[Observed, R]]:
    """Play Crossplane: render, make what was desired exist, repeat until nothing changes.

    A resource is observed Ready `ready_lag` rounds after it is first desired (before that it
    exists, not Ready). The last round is the fixed point: what it desired is exactly what it
    observed. Whether the XR is ready there is for the caller to assert.

    Returns:
        Each round's observed resources (by composition resource name) and render.
    """
    rounds: list[tuple[Observed, R]] = []
    first_desired: dict[str, int] = {}
    observed: Observed = {}
    for number in range(MAX_ROUNDS):
        rendered = reconcile(observed)
        rounds.append((observed, rendered))
        applied: Observed = {}
        for body in rendered.composed:
            name = body["metadata"]["annotations"][RESOURCE_NAME]
            first_desired.setdefault(name, number)
            is_ready = number - first_desired[name] + 1 >= ready_lag
            applied[name] = f.observed_body(body, ready=is_ready)
        if applied == observed:
            return rounds
        observed = applied
    raise AssertionError(f"not converged in {MAX_ROUNDS} rounds: {rounds[-1][1].results}")


def environment_xr(space: str, flavour: str, **overrides: Any) -> dict[str, Any]:
    """The test environment for a Space type, namespaced (v2) or cluster-scoped (v1).

    `overrides` replace top-level spec fields, e.g. argocd=f.CLUSTER_SECRET.
    """
    return f.xr(
        f.spec(space=SPACES[space], **overrides),
        namespace="platform" if flavour == "namespaced" else None,
    )


def expected_names(space: str) -> set[str]:
    """What a converged environment composes in a Space type."""
    return EXPECTED_NAMES | ({"space-ingress"} if space == "Connected-discovered" else set())


def ready(observed: Mapping[str, Mapping[str, Any]], name: str) -> bool:
    """Whether Crossplane observed the composed resource as Ready."""
    conditions = observed.get(name, {}).get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def assert_composed(desired: Mapping[str, Mapping[str, Any]], flavour: str, space: str) -> None:
    """Every resource of a converged environment, valid, of the flavour's kinds and scope."""
    assert set(desired) == expected_names(space)
    for name, composed in desired.items():
        assert_valid(dict(composed))
        assert composed["apiVersion"] == KINDS[flavour][composed["kind"]], name
        namespace = composed["metadata"].get("namespace")
        assert namespace == ("platform" if flavour == "namespaced" else None), name
    wrapped = sorted(f.manifest(c)["kind"] for c in desired.values() if c["kind"] == "Object")
    ingress = ["ConfigMap"] * (space == "Connected-discovered")
    objects = ["ControlPlane"] * 3 + ["Namespace"] * 2 + ["ObjectRoleBinding"] + ["Secret"] * 3
    assert wrapped == ingress + objects


def assert_ordered(rounds: Sequence[Round]) -> None:
    """No ControlPlane or access binding before its group is Ready, no Argo cluster before its
    ControlPlane is, and a group's access binding names each team by its observed ID."""
    for number, (observed, desired) in enumerate(rounds):
        for name in desired:
            kind, *parts = name.split(".")
            if not parts:  # space-ingress: no prerequisite
                continue
            prerequisite = {
                "controlplane": f"group.{parts[0]}",
                "argocd-cluster": f"controlplane.{'.'.join(parts)}",
                "access": f"group.{parts[0]}",
            }.get(kind)
            if prerequisite is None or name in observed:
                continue
            assert ready(observed, prerequisite), f"round {number}: {name} before {prerequisite}"
            if kind == "access":
                _assert_bound_by_observed_ids(observed, desired[name])


def _assert_bound_by_observed_ids(
    observed: Mapping[str, Mapping[str, Any]], binding: Mapping[str, Any]
) -> None:
    """The ObjectRoleBinding's subjects are the IDs the observed Teams carry."""
    ids = {
        body["metadata"]["annotations"].get(f.EXTERNAL_NAME)
        for name, body in observed.items()
        if name.startswith("team.")
    }
    subjects = f.manifest(binding)["spec"]["subjects"]
    assert subjects
    assert {s["name"] for s in subjects} <= ids


def assert_status(
    status: Mapping[str, Any], desired: Mapping[str, Mapping[str, Any]], space: str
) -> None:
    """The converged XR's status: summary, each control plane's server and Argo cluster."""
    assert status["summary"] == {
        "groups": 2,
        "controlPlanes": 3,
        "controlPlanesReady": 3,
        "teams": 2,
        "robots": 1,
        "repositories": 1,
    }
    host = {
        "Cloud": "upbound-gcp-us-west-1.space.mxe.upbound.io",
        "Connected": "proxy.acme.example.com",
        "Connected-discovered": f.INGRESS_HOST,
    }
    expected = []
    for group, name in CONTROL_PLANES:
        if space == "Disconnected":
            server = f.edge_server(f"controlplane.{group}.{name}")
        else:
            server = (
                f"https://{host[space]}/apis/spaces.upbound.io/v1beta1"
                f"/namespaces/{group}/controlplanes/{name}/k8s"
            )
        cluster = f"controlplane-{group}-{name}"
        expected.append(
            {
                "group": group,
                "name": name,
                "ready": True,
                "registered": True,
                "message": "Ready",
                "server": server,
                "argoCluster": cluster,
            }
        )
        data = f.secret_data(desired[f"argocd-cluster.{group}.{name}"])
        assert (data["name"], data["server"]) == (cluster, server)
        config = json.loads(data["config"])
        if space != "Cloud":
            assert config["tlsClientConfig"]["caData"] == f.CA_DATA.decode()
        if space == "Disconnected":
            assert config["bearerToken"] == f.KUBECONFIG_TOKEN
        else:  # credentials Environment, the default: no token in the Secret
            assert config["execProviderConfig"]["env"] == {"ORGANIZATION": "acme"}
    assert status["controlPlanes"] == expected
    assert status["access"] == [{"group": "dev", "ready": True, "message": "Ready"}]
    conditions = {c["type"]: c for c in status["conditions"]}
    for typ in ("ControlPlanesReady", "ClustersRegistered", "IAMReady", "Ready"):
        assert conditions[typ]["status"] == "True", conditions[typ]
    assert base64.b64encode(f.TOKEN.encode()).decode() not in json.dumps(status)
