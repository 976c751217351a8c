"""Argo CD registration through the real gRPC server, in both API flavours.

Token Secret namespaces, unique cluster Secret names, the Connected Space's own ingress, and
kubeconfigs only where and when Argo CD needs them (docs/credentials.md,
docs/argocd-clusters.md).
"""

from __future__ import annotations

from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pytest
from crossplane.function import resource

from function.observed import Observed
from tests import factories as f
from tests.schemas import assert_valid
from tests.server import Server

FLAVOURS = pytest.mark.parametrize("namespace", ["platform", None])


def warnings(rsp: fnv1.RunFunctionResponse) -> list[str]:
    return [r.message for r in rsp.results if r.severity == fnv1.SEVERITY_WARNING]


def test_a_namespaced_xr_naming_another_namespace_is_fatal_and_asks_for_nothing(
    debug_server: Server,
) -> None:
    argocd = {"credentials": "ClusterSecret", "tokenSecretRef": {"name": "t", "namespace": "a"}}
    rsp = debug_server.call(f.request(f.xr(f.spec(argocd=argocd)), supply_token=False))
    (fatal,) = f.fatal(rsp)
    assert "- spec.argocd.tokenSecretRef.namespace: a namespaced UpboundEnvironment" in fatal
    assert not rsp.requirements.resources and not rsp.requirements.extra_resources
    assert len(rsp.desired.resources) == 0


def test_a_namespaced_xr_may_not_override_the_inputs_secret(debug_server: Server) -> None:
    function_input = {
        "argocd": {
            "credentials": "ClusterSecret",
            "tokenSecretRef": {"name": "upbound", "namespace": "crossplane-system"},
        }
    }
    xr = f.xr(f.spec(argocd={"tokenSecretRef": {"name": "mine"}}))
    rsp = debug_server.call(f.request(xr, function_input=function_input, supply_token=False))
    (fatal,) = f.fatal(rsp)
    assert "- spec.argocd.tokenSecretRef: the Composition's function input names" in fatal
    assert not rsp.requirements.resources
    # Without the override, the input's Secret is asked for, wherever it is.
    rsp = debug_server.call(f.request(f.xr(), function_input=function_input, supply_token=False))
    assert rsp.requirements.resources["upbound-token"].namespace == "crossplane-system"


def cluster_secrets(rsp: fnv1.RunFunctionResponse) -> set[tuple[str, str]]:
    return {
        (f.manifest(c)["metadata"]["namespace"], f.manifest(c)["metadata"]["name"])
        for n, c in f.desired(rsp).items()
        if n.startswith("argocd-cluster.")
    }


@FLAVOURS
def test_two_environments_sharing_an_argo_cd_write_different_secrets(
    debug_server: Server, namespace: str | None
) -> None:
    """example/xr.yaml and example/xr-connected.yaml both have dev/ctp1, on two Spaces."""
    groups = [{"name": "dev", "controlPlanes": [{"name": "ctp1"}]}]
    cloud = f.xr(f.spec(groups=groups), name="acme", namespace=namespace)
    connected = f.xr(
        f.spec(groups=groups, space={"type": "Connected", "host": "proxy.acme.example.com"}),
        name="acme-connected",
        namespace=namespace,
    )
    last = [f.reconcile(xr, call=debug_server.call)[-1][1] for xr in (cloud, connected)]
    first, second = (cluster_secrets(rsp) for rsp in last)
    assert len(first) == len(second) == 1
    assert first.isdisjoint(second)
    # The display name stays <prefix><group>-<name> for both.
    for rsp in last:
        data = f.secret_data(f.desired(rsp)["argocd-cluster.dev.ctp1"])
        assert data["name"] == "controlplane-dev-ctp1"


@FLAVOURS
def test_an_upgrade_keeps_the_existing_cluster_secret_name(
    debug_server: Server, namespace: str | None
) -> None:
    xr = f.xr(namespace=namespace)
    observed, settled = f.reconcile(xr, call=debug_server.call)[-1]
    # As an earlier version composed it: the Secret named like the cluster.
    body = resource.struct_to_dict(observed["argocd-cluster.dev.ctp1"].resource)
    body["spec"]["forProvider"]["manifest"]["metadata"]["name"] = "controlplane-dev-ctp1"
    observed["argocd-cluster.dev.ctp1"] = fnv1.Resource(resource=resource.dict_to_struct(body))
    rsp = debug_server.call(f.request(xr, observed=observed))
    hashed = f.manifest(f.desired(settled)["argocd-cluster.dev.ctp1"])["metadata"]["name"]
    assert hashed.startswith("controlplane-dev-ctp1-")
    expected = cluster_secrets(settled) - {("argocd", hashed)} | {
        ("argocd", "controlplane-dev-ctp1")
    }
    assert cluster_secrets(rsp) == expected


@FLAVOURS
def test_a_connected_space_reads_its_ingress_and_reports_garbage(
    debug_server: Server, namespace: str | None
) -> None:
    xr = f.xr(f.spec(space={"type": "Connected"}), namespace=namespace)
    observed, settled = f.reconcile(xr, call=debug_server.call)[-1]
    ingress = f.desired(settled)["space-ingress"]
    assert ingress["spec"]["managementPolicies"] == ["Observe"]
    assert_valid(ingress)
    data = f.secret_data(f.desired(settled)["argocd-cluster.prod.ctp1"])
    assert data["server"].startswith(f"https://{f.INGRESS_HOST}/")

    # The ConfigMap turns to garbage: a Warning, the clusters are kept as they are.
    body = resource.struct_to_dict(observed["space-ingress"].resource)
    body["status"]["atProvider"]["manifest"]["data"] = {"ingress-host": "not a host!"}
    observed["space-ingress"] = fnv1.Resource(resource=resource.dict_to_struct(body))
    rsp = debug_server.call(f.request(xr, observed=observed))
    assert f.fatal(rsp) == []
    (warning,) = warnings(rsp)
    assert "ConfigMap upbound-system/ingress-public" in warning and "spec.space.host" in warning
    kept = f.desired(rsp)["argocd-cluster.prod.ctp1"]
    assert (
        kept["spec"]
        == resource.struct_to_dict(observed["argocd-cluster.prod.ctp1"].resource)["spec"]
    )
    assert rsp.desired.composite.ready == fnv1.READY_FALSE
    status: dict[str, Any] = resource.struct_to_dict(rsp.desired.composite.resource)["status"]
    assert all("ingress-host" in e["message"] for e in status["controlPlanes"])


@FLAVOURS
def test_kubeconfigs_only_in_disconnected_spaces_and_only_once_ready(
    debug_server: Server, namespace: str | None
) -> None:
    for space in ({"type": "Cloud", "name": "gcp"}, {"type": "Connected", "host": "a.example"}):
        _, rsp = f.reconcile(
            f.xr(f.spec(space=space), namespace=namespace), call=debug_server.call
        )[-1]
        for name, composed in f.desired(rsp).items():
            if name.startswith("controlplane."):
                assert "writeConnectionSecretToRef" not in f.manifest(composed)["spec"]
                assert "connectionDetails" not in composed["spec"]

    xr = f.xr(f.spec(space={"type": "Disconnected"}), namespace=namespace)
    rounds = f.reconcile(xr, call=debug_server.call)
    for observed, rsp in rounds:
        for name, composed in f.desired(rsp).items():
            if not name.startswith("controlplane."):
                continue
            assert "writeConnectionSecretToRef" in f.manifest(composed)["spec"]
            control_plane_ready = Observed(observed).ready(name)
            assert ("connectionDetails" in composed["spec"]) == control_plane_ready, name
