"""End to end over real gRPC: Crossplane's reconcile loop against the real server.

Each round renders the example Composition's pipeline with `hack.render` (requirements loop
included: the function asks for the token Secret and is called again with it), then plays
Crossplane: what the function desired now exists, Ready a round (or two) later; a
Disconnected ControlPlane Object comes back with the kubeconfig as connection details.
Rounds repeat until the XR is ready and nothing waits.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import pytest
from crossplane.function import resource
from crossplane.function.proto.v1beta1 import run_function_pb2 as fnv1beta1
from crossplane.function.proto.v1beta1 import run_function_pb2_grpc as grpcv1beta1

from function.compose.common import PROTECT_ANNOTATION
from hack.render import RESOURCE_NAME, RenderResult, load_yaml_documents, render
from tests import factories as f
from tests.schemas import assert_valid
from tests.server import ROOT, Server

COMPOSITION = load_yaml_documents(ROOT / "example" / "composition.yaml")[0]
FUNCTIONS = load_yaml_documents(ROOT / "example" / "functions.yaml")
FUNCTION_NAME = FUNCTIONS[0]["metadata"]["name"]
MAX_ROUNDS = 8

SPACES: dict[str, dict[str, Any]] = {
    "Cloud": {"type": "Cloud", "name": "upbound-gcp-us-west-1"},
    "Connected": {
        "type": "Connected",
        "host": "proxy.acme.example.com",
        "caBundle": f.CA_DATA.decode(),
    },
    "Disconnected": {"type": "Disconnected"},
}
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


@dataclass
class Round:
    """One reconcile: what Crossplane observed, and what the pipeline rendered from it."""

    observed: dict[str, dict[str, Any]]
    result: RenderResult

    @property
    def desired(self) -> dict[str, dict[str, Any]]:
        """The function's desired composed resources, as it returned them."""
        return f.desired(self.result.responses[-1])

    def ready(self, name: str) -> bool:
        """Whether Crossplane observed the composed resource as Ready."""
        conditions = self.observed.get(name, {}).get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def reconcile(
    server: Server, xr: dict[str, Any], observed: dict[str, dict[str, Any]]
) -> RenderResult:
    """One pass of the Composition's pipeline, the way Crossplane runs it."""
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
    """Reconcile until the XR is ready and nothing waits; a resource is Ready `ready_lag`
    rounds after it is first desired (before that it exists, not Ready)."""
    rounds: list[Round] = []
    first_desired: dict[str, int] = {}
    observed: dict[str, dict[str, Any]] = {}
    for number in range(MAX_ROUNDS):
        result = reconcile(server, xr, observed)
        rounds.append(Round(observed, result))
        assert result.fatal is None, result.fatal
        if _converged(result, observed):
            return rounds
        observed = {}
        for body in result.composed:
            name = body["metadata"]["annotations"][RESOURCE_NAME]
            first_desired.setdefault(name, number)
            ready = number - first_desired[name] + 1 >= ready_lag
            observed[name] = f.observed_body(body, ready=ready)
    raise AssertionError(f"not converged in {MAX_ROUNDS} rounds: {rounds[-1].result.results}")


def _converged(result: RenderResult, observed: dict[str, dict[str, Any]]) -> bool:
    waiting = [r for r in result.results if r["message"].startswith("Waiting")]
    names = {c["metadata"]["annotations"][RESOURCE_NAME] for c in result.composed}
    ready = [c for c in result.xr["status"]["conditions"] if c["type"] == "Ready"]
    return not waiting and names == set(observed) and ready[0]["status"] == "True"


def _xr(space: str, flavour: str) -> dict[str, Any]:
    return f.xr(
        f.spec(space=SPACES[space]), namespace="platform" if flavour == "namespaced" else None
    )


@pytest.mark.parametrize("flavour", ["namespaced", "cluster"])
@pytest.mark.parametrize("space", sorted(SPACES))
def test_an_environment_converges(debug_server: Server, space: str, flavour: str) -> None:
    rounds = converge(debug_server, _xr(space, flavour))
    final = rounds[-1]

    assert set(final.desired) == EXPECTED_NAMES
    for name, composed in final.desired.items():
        assert_valid(composed)
        assert composed["apiVersion"] == KINDS[flavour][composed["kind"]], name
        namespace = composed["metadata"].get("namespace")
        assert namespace == ("platform" if flavour == "namespaced" else None), name
    wrapped = sorted(
        f.manifest(c)["kind"] for n, c in final.desired.items() if c["kind"] == "Object"
    )
    assert (
        wrapped == ["ControlPlane"] * 3 + ["Namespace"] * 2 + ["ObjectRoleBinding"] + ["Secret"] * 3
    )

    _assert_ordered(rounds)
    _assert_access_after_team_ids(rounds)
    _assert_status(final, space)
    assert final.result.ttl_seconds == 600
    assert all(r.result.ttl_seconds == 15 for r in rounds[:-1])
    # groups; control planes; Argo CD clusters; all of them observed Ready.
    assert len(rounds) == 4


def test_slow_readiness_still_orders_and_converges(debug_server: Server) -> None:
    """Resources exist a round before they are Ready: nothing may jump ahead of its prerequisite."""
    rounds = converge(debug_server, _xr("Disconnected", "namespaced"), ready_lag=2)
    _assert_ordered(rounds)
    assert set(rounds[-1].desired) == EXPECTED_NAMES
    assert len(rounds) == 7


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
        assert any(c["kind"] == "Token" for c in result.composed)


def test_the_status_says_which_team_a_binding_waits_for(debug_server: Server) -> None:
    xr = _xr("Cloud", "namespaced")
    xr["spec"]["iam"]["teams"][0]["externalName"] = "918a6338-abbe-420d-81cf-9e87642a87c6"
    first = reconcile(debug_server, xr, {})
    group = next(
        c for c in first.composed if c["metadata"]["annotations"][RESOURCE_NAME] == "group.dev"
    )
    # The group is ready; the Teams are not created yet, so only app-team's ID is unknown.
    result = reconcile(debug_server, xr, {"group.dev": f.observed_body(group)})
    [entry] = result.xr["status"]["access"]
    assert entry["group"] == "dev"
    assert entry["ready"] is False
    assert entry["message"].startswith("waiting for the Upbound ID of team app-team:")
    assert "access.dev" not in {
        c["metadata"]["annotations"][RESOURCE_NAME] for c in result.composed
    }


@pytest.mark.parametrize("flavour", ["namespaced", "cluster"])
def test_a_changed_permission_level_is_replaced_in_order(
    debug_server: Server, flavour: str
) -> None:
    """provider-upbound cannot update a Permission's level: the old one is unprotected, then
    deleted, and only once it is gone is the new one created."""
    xr = _xr("Cloud", flavour)
    observed = _observed(converge(debug_server, xr)[-1].result)
    xr["spec"]["iam"]["repositories"][0]["permissions"][1]["permission"] = "write"
    name = "repository-permission.configs.app-team"
    steps = []
    for _ in range(4):
        result = reconcile(debug_server, xr, observed)
        assert result.fatal is None, result.fatal
        composed = {c["metadata"]["annotations"][RESOURCE_NAME]: c for c in result.composed}
        permission = composed.get(name)
        steps.append(
            permission
            and (
                permission["spec"]["forProvider"]["permission"],
                permission["metadata"]["annotations"][PROTECT_ANNOTATION],
            )
        )
        for body in composed.values():
            assert_valid(body)
        observed = _observed(result)
    assert steps == [("read", "false"), None, ("write", "true"), ("write", "true")]


def _observed(result: RenderResult) -> dict[str, dict[str, Any]]:
    """What Crossplane observes after applying a render: everything it desired, Ready."""
    return {
        c["metadata"]["annotations"][RESOURCE_NAME]: f.observed_body(c) for c in result.composed
    }


def test_the_token_is_fetched_through_the_requirements_loop(debug_server: Server) -> None:
    rounds = converge(debug_server, _xr("Cloud", "cluster"))
    for round_ in rounds:
        first, *_, last = round_.result.requests
        assert "upbound-token" not in first.required_resources
        items = last.required_resources["upbound-token"].items
        secrets = [resource.struct_to_dict(i.resource) for i in items]
        assert [s["metadata"]["name"] for s in secrets] == ["upbound-token"]
    config = json.loads(f.secret_data(rounds[-1].desired["argocd-cluster.dev.ctp1"])["config"])
    assert config["execProviderConfig"]["env"] == {"ORGANIZATION": "acme", "UP_TOKEN": f.TOKEN}


def _assert_ordered(rounds: list[Round]) -> None:
    """No ControlPlane before its group is Ready, no Argo cluster before its ControlPlane is."""
    for number, round_ in enumerate(rounds):
        for name in round_.desired:
            kind, *parts = name.split(".")
            prerequisite = {
                "controlplane": f"group.{parts[0]}",
                "argocd-cluster": f"controlplane.{'.'.join(parts)}",
                "access": f"group.{parts[0]}",
            }.get(kind)
            if prerequisite is None or name in round_.observed:
                continue
            assert round_.ready(prerequisite), f"round {number}: {name} before {prerequisite}"


def _assert_access_after_team_ids(rounds: list[Round]) -> None:
    """The group's ObjectRoleBinding names each team by the ID the observed Team carries."""
    first = next(r for r in rounds if "access.dev" in r.desired)
    ids = {
        name.removeprefix("team."): body["metadata"]["annotations"][f.EXTERNAL_NAME]
        for name, body in first.observed.items()
        if name.startswith("team.")
    }
    subjects = f.manifest(first.desired["access.dev"])["spec"]["subjects"]
    assert {s["name"] for s in subjects} == {ids["platform"], ids["app-team"]}


def _assert_status(final: Round, space: str) -> None:
    status = final.result.xr["status"]
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
                "message": "Ready",
                "server": server,
                "argoCluster": cluster,
            }
        )
        data = f.secret_data(final.desired[f"argocd-cluster.{group}.{name}"])
        assert (data["name"], data["server"]) == (cluster, server)
        if space == "Disconnected":
            config = json.loads(data["config"])
            assert config["bearerToken"] == f.KUBECONFIG_TOKEN
            assert config["tlsClientConfig"]["caData"] == f.CA_DATA.decode()
    assert status["controlPlanes"] == expected
    assert status["access"] == [{"group": "dev", "ready": True, "message": "Ready"}]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["ControlPlanesReady"]["status"] == "True"
    assert conditions["Ready"]["status"] == "True"
    assert base64.b64encode(f.TOKEN.encode()).decode() not in json.dumps(status)


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
