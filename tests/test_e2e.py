"""End to end over real gRPC: Crossplane's reconcile loop against the real server.

Each round renders the example Composition's pipeline with `hack.render` (requirements loop
included: the function asks for the token Secret and is called again with it), then plays
Crossplane: what the function desired now exists, Ready a round (or two) later; a
Disconnected ControlPlane Object comes back with the kubeconfig as connection details.
Rounds repeat until nothing changes (tests/environments.py).

These use `hack.render`, not the real `crossplane render`, for what the real one cannot give:
observed connection details (render sends none, so a Disconnected environment never gets its
Argo CD clusters) and every request and response (the requirements loop, response TTLs).
tests/test_crossplane_cli.py converges the same environments with the real CLI and fails when
hack.render's output differs from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from crossplane.function import resource
from crossplane.function.proto.v1beta1 import run_function_pb2 as fnv1beta1
from crossplane.function.proto.v1beta1 import run_function_pb2_grpc as grpcv1beta1

from function.compose.common import PROTECT_ANNOTATION
from hack.render import RenderResult, load_yaml_documents, render
from tests import environments
from tests import factories as f
from tests.schemas import assert_valid
from tests.server import ROOT, Server

COMPOSITION = load_yaml_documents(ROOT / "example" / "composition.yaml")[0]
FUNCTIONS = load_yaml_documents(ROOT / "example" / "functions.yaml")
FUNCTION_NAME = FUNCTIONS[0]["metadata"]["name"]


@dataclass
class Round:
    """One reconcile: what Crossplane observed, and what the pipeline rendered from it."""

    observed: dict[str, dict[str, Any]]
    result: RenderResult

    @property
    def desired(self) -> dict[str, dict[str, Any]]:
        """The function's desired composed resources, as it returned them."""
        return f.desired(self.result.responses[-1])

    def pair(self) -> environments.Round:
        """The round as the shared checks take it: observed and desired, by name."""
        return self.observed, self.desired


def reconcile(
    server: Server, xr: dict[str, Any], observed: dict[str, dict[str, Any]]
) -> RenderResult:
    """One pass of the Composition's pipeline, with the connection details a real Crossplane
    sends (`crossplane render` sends none)."""
    return render(
        xr,
        COMPOSITION,
        FUNCTIONS,
        observed=list(observed.values()),
        required=[f.TOKEN_SECRET],
        observed_connection_details={n: f.connection_details(n, b) for n, b in observed.items()},
        address_override={FUNCTION_NAME: server.address},
    )


def converge(server: Server, xr: dict[str, Any], *, ready_lag: int = 1) -> list[Round]:
    """Reconcile to the fixed point, the way Crossplane runs the Composition's pipeline."""

    def once(observed: dict[str, dict[str, Any]]) -> RenderResult:
        result = reconcile(server, xr, observed)
        assert result.fatal is None, result.fatal
        return result

    return [Round(o, r) for o, r in environments.converge(once, ready_lag=ready_lag)]


def _names(result: RenderResult) -> dict[str, dict[str, Any]]:
    """The composed resources of a render, by composition resource name."""
    return {c["metadata"]["annotations"][environments.RESOURCE_NAME]: c for c in result.composed}


def _observed(result: RenderResult) -> dict[str, dict[str, Any]]:
    """What Crossplane observes after applying a render: everything it desired, Ready."""
    return {name: f.observed_body(body) for name, body in _names(result).items()}


@pytest.mark.parametrize("flavour", environments.FLAVOURS)
@pytest.mark.parametrize("space", sorted(environments.SPACES))
def test_an_environment_converges(debug_server: Server, space: str, flavour: str) -> None:
    rounds = converge(debug_server, environments.environment_xr(space, flavour))
    final = rounds[-1]

    environments.assert_composed(final.desired, flavour, space)
    environments.assert_ordered([r.pair() for r in rounds])
    environments.assert_status(final.result.xr["status"], final.desired, space)
    assert final.result.ttl_seconds == 600
    assert all(r.result.ttl_seconds == 15 for r in rounds[:-1])
    # credentials Environment (the default): the function never asks for a Secret.
    for round_ in rounds:
        for rsp in round_.result.responses:
            assert not rsp.requirements.resources and not rsp.requirements.extra_resources
    # groups; control planes; Argo CD clusters; all of them observed Ready. Disconnected: the
    # ControlPlane Objects read the kubeconfig once Ready, a round before the clusters.
    assert len(rounds) == (5 if space == "Disconnected" else 4)


def test_slow_readiness_still_orders_and_converges(debug_server: Server) -> None:
    """Resources exist a round before they are Ready: nothing may jump ahead of its prerequisite."""
    rounds = converge(
        debug_server, environments.environment_xr("Disconnected", "namespaced"), ready_lag=2
    )
    environments.assert_ordered([r.pair() for r in rounds])
    assert set(rounds[-1].desired) == environments.EXPECTED_NAMES
    assert len(rounds) == 8  # the kubeconfig is read once a ControlPlane is Ready


@pytest.mark.parametrize(
    ("namespace", "fatal"),
    [("platform", True), (None, False)],
    ids=["namespaced-refused", "cluster-allowed"],
)
def test_robot_token_secrets_obey_the_namespace_rule(
    debug_server: Server, namespace: str | None, fatal: bool
) -> None:
    """A namespaced XR may write a robot token only to its own namespace; the function never
    asks for the token Secret it writes, whatever the spec names."""
    spec = f.spec()
    spec["iam"]["robots"][0]["tokens"] = [
        {"name": "argocd", "secretRef": {"name": "argocd-up", "namespace": "kube-system"}}
    ]
    result = reconcile(debug_server, f.xr(spec, namespace=namespace), {})
    for response in result.responses:
        for name, selector in response.requirements.resources.items():
            assert (name, selector.namespace) == ("upbound-token", "crossplane-system")
    if fatal:
        assert result.fatal is not None
        assert "spec.iam.robots[0].tokens[0].secretRef.namespace" in result.fatal
        assert "its own namespace 'platform'" in result.fatal
        assert result.composed == []
    else:
        assert result.fatal is None
        token = _names(result)["robot-token.ci.argocd"]
        assert token["spec"]["writeConnectionSecretToRef"] == {
            "name": "argocd-up",
            "namespace": "kube-system",
        }


def test_the_status_says_which_team_a_binding_waits_for(debug_server: Server) -> None:
    xr = environments.environment_xr("Cloud", "namespaced")
    xr["spec"]["iam"]["teams"][0]["externalName"] = "918a6338-abbe-420d-81cf-9e87642a87c6"
    group = _names(reconcile(debug_server, xr, {}))["group.dev"]
    # The group is ready; the Teams are not created yet, so only app-team's ID is unknown.
    result = reconcile(debug_server, xr, {"group.dev": f.observed_body(group)})
    [entry] = result.xr["status"]["access"]
    assert entry["group"] == "dev"
    assert entry["ready"] is False
    assert entry["message"].startswith("waiting for the Upbound ID of team app-team:")
    assert "access.dev" not in _names(result)


@pytest.mark.parametrize("flavour", environments.FLAVOURS)
def test_a_changed_permission_level_is_replaced_in_order(
    debug_server: Server, flavour: str
) -> None:
    """provider-upbound cannot update a Permission's level: the old one is unprotected, then
    deleted, and only once it is gone is the new one created."""
    xr = environments.environment_xr("Cloud", flavour)
    observed = _observed(converge(debug_server, xr)[-1].result)
    xr["spec"]["iam"]["repositories"][0]["permissions"][1]["permission"] = "write"
    name = "repository-permission.configs.app-team"
    steps = []
    for _ in range(4):
        result = reconcile(debug_server, xr, observed)
        assert result.fatal is None, result.fatal
        permission = _names(result).get(name)
        steps.append(
            permission
            and (
                permission["spec"]["forProvider"]["permission"],
                permission["metadata"]["annotations"][PROTECT_ANNOTATION],
            )
        )
        for body in result.composed:
            assert_valid(body)
        observed = _observed(result)
    assert steps == [("read", "false"), None, ("write", "true"), ("write", "true")]


def test_the_token_is_fetched_through_the_requirements_loop(debug_server: Server) -> None:
    xr = environments.environment_xr("Cloud", "cluster", argocd=f.CLUSTER_SECRET)
    rounds = converge(debug_server, xr)
    for round_ in rounds:
        first, *_, last = round_.result.requests
        assert "upbound-token" not in first.required_resources
        items = last.required_resources["upbound-token"].items
        secrets = [resource.struct_to_dict(i.resource) for i in items]
        assert [s["metadata"]["name"] for s in secrets] == ["upbound-token"]
        # A cluster-scoped XR's omitted namespace: crossplane-system.
        (rsp, *_) = round_.result.responses
        assert rsp.requirements.resources["upbound-token"].namespace == "crossplane-system"
    config = json.loads(f.secret_data(rounds[-1].desired["argocd-cluster.dev.ctp1"])["config"])
    assert config["execProviderConfig"]["env"] == {"ORGANIZATION": "acme", "UP_TOKEN": f.TOKEN}


def test_the_v1beta1_service_answers_as_v1(debug_server: Server) -> None:
    """Older Crossplane 1.x releases call the v1beta1 service, which the SDK also serves."""
    req = f.request(f.xr(namespace=None), observed=["group.dev"])
    beta_req = fnv1beta1.RunFunctionRequest.FromString(req.SerializeToString())
    with debug_server.channel() as channel:
        beta_rsp: fnv1beta1.RunFunctionResponse = grpcv1beta1.FunctionRunnerServiceStub(
            channel
        ).RunFunction(beta_req, timeout=30)
    assert "controlplane.dev.ctp1" in beta_rsp.desired.resources
    assert beta_rsp.SerializeToString(deterministic=True) == f.run(req).SerializeToString(
        deterministic=True
    )
