"""The Space's ingress: a Connected Space's host and CA, read from the Space when not given."""

from __future__ import annotations

import base64
import json
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pytest
from crossplane.function import resource

from function.compose import argocd, ingress
from function.compose.common import Context
from tests import factories as f
from tests.schemas import assert_valid

READY_CONTROL_PLANES = ["controlplane.dev.ctp1", "controlplane.dev.ctp2", "controlplane.prod.ctp1"]
PEM = f.INGRESS_DATA["ingress-ca"]


def connected(**space: str) -> dict[str, Any]:
    return f.xr(f.spec(space={"type": "Connected", **space}))


def observed_ingress(manifest: Any, *, ready: bool = True) -> fnv1.Resource:
    """The observe-only Object as provider-kubernetes reports it, with `manifest` observed."""
    body = f.observed_body({"apiVersion": "kubernetes.m.crossplane.io/v1alpha1", "kind": "Object"})
    if manifest is not None:
        body["status"]["atProvider"] = {"manifest": manifest}
    body["status"]["conditions"][0]["status"] = "True" if ready else "False"
    return fnv1.Resource(resource=resource.dict_to_struct(body))


def context(xr: dict[str, Any], manifest: Any = None, *, observed: bool = True) -> Context:
    resources = {n: f.observed_resource(n) for n in READY_CONTROL_PLANES}
    if observed:
        resources["space-ingress"] = observed_ingress(manifest)
    return f.context(xr, resources)


def config_map(data: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "ingress-public", "namespace": "upbound-system"},
        "data": data,
    }


@pytest.mark.parametrize("namespace", ["platform", None])
def test_an_observe_only_object_reads_the_spaces_ingress_config_map(namespace: str | None) -> None:
    xr = f.xr(f.spec(space={"type": "Connected"}), namespace=namespace)
    out = ingress.build(f.context(xr, READY_CONTROL_PLANES))
    (composed,) = out.desired
    assert composed.name == "space-ingress"
    assert not composed.ready, "ready once its values arrived"
    body = composed.resource
    assert body["spec"]["managementPolicies"] == ["Observe"]
    assert "deletionPolicy" not in body["spec"]
    assert body["spec"]["providerConfigRef"]["name"] == "upbound-space"
    assert f.manifest(body) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "ingress-public", "namespace": "upbound-system"},
    }
    assert_valid(body)


def test_until_the_values_arrive_the_clusters_wait_and_say_why() -> None:
    for ctx in (context(connected()), context(connected(), observed=False)):
        out = argocd.build(ctx)
        assert out.desired == []
        assert {w.reason for w in out.waiting} == {
            "waiting for the Space's ingress host and CA from the ConfigMap "
            "upbound-system/ingress-public in the Space; or set spec.space.host and "
            "spec.space.caBundle"
        }


def test_clusters_use_the_observed_host_and_ca() -> None:
    ctx = context(connected(), config_map(f.INGRESS_DATA))
    composed = f.by_name(argocd.build(ctx))
    data = f.secret_data(composed["argocd-cluster.dev.ctp1"])
    assert data["server"].startswith(f"https://{f.INGRESS_HOST}/apis/spaces.upbound.io/")
    tls = json.loads(data["config"])["tlsClientConfig"]
    assert base64.b64decode(tls["caData"]).decode() == PEM
    (desired,) = ingress.build(ctx).desired
    assert desired.ready


def test_explicit_fields_win_over_the_observed_ones() -> None:
    ca = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n")
    both = connected(host="proxy.acme.example.com", caBundle=ca.decode())
    assert ingress.build(context(both, config_map(f.INGRESS_DATA))).desired == []
    host_only = context(connected(host="proxy.acme.example.com"), config_map(f.INGRESS_DATA))
    data = f.secret_data(f.by_name(argocd.build(host_only))["argocd-cluster.dev.ctp1"])
    assert data["server"].startswith("https://proxy.acme.example.com/")
    assert json.loads(data["config"])["tlsClientConfig"]["caData"] == f.CA_DATA.decode()
    ca_only = context(connected(caBundle=ca.decode()), config_map(f.INGRESS_DATA))
    data = f.secret_data(f.by_name(argocd.build(ca_only))["argocd-cluster.dev.ctp1"])
    assert data["server"].startswith(f"https://{f.INGRESS_HOST}/")
    assert json.loads(data["config"])["tlsClientConfig"]["caData"] == ca.decode()


def test_a_space_without_a_ca_in_its_config_map_uses_public_roots() -> None:
    ctx = context(connected(), config_map({"ingress-host": f.INGRESS_HOST}))
    data = f.secret_data(f.by_name(argocd.build(ctx))["argocd-cluster.dev.ctp1"])
    assert json.loads(data["config"])["tlsClientConfig"] == {"insecure": False}


def test_not_needed_for_other_spaces_or_without_registrations() -> None:
    for spec in (
        f.spec(),
        f.spec(space={"type": "Disconnected"}),
        f.spec(space={"type": "Connected"}, argocd={"enabled": False}),
    ):
        assert ingress.build(f.context(f.xr(spec), READY_CONTROL_PLANES)).desired == []


# (reason, the observed manifest, what the warning says)
GARBAGE = [
    ("no data at all", config_map(None), "has no ingress-host"),
    ("data is a list", config_map(["ingress-host"]), "has no ingress-host"),
    ("host is a number", config_map({"ingress-host": 3}), "not a host name"),
    ("host with a path", config_map({"ingress-host": "https://a.example.com/x"}), "not a host"),
    ("host is empty", config_map({"ingress-host": ""}), "not a host name"),
    ("host with spaces", config_map({"ingress-host": "a b"}), "not a host name"),
    ("CA not PEM", config_map({"ingress-host": "a.example.com", "ingress-ca": "nope"}), "PEM"),
    ("CA a map", config_map({"ingress-host": "a.example.com", "ingress-ca": {"a": 1}}), "PEM"),
    (
        "CA a private key",
        config_map({"ingress-host": "a.example.com", "ingress-ca": "-----BEGIN PRIVATE KEY-----"}),
        "PEM",
    ),
    ("CA huge", config_map({"ingress-host": "a.example.com", "ingress-ca": PEM * 20000}), "PEM"),
]


@pytest.mark.parametrize(
    ("manifest", "says"), [g[1:] for g in GARBAGE], ids=[g[0] for g in GARBAGE]
)
def test_garbage_in_the_config_map_is_reported_and_clusters_wait(
    manifest: dict[str, Any], says: str
) -> None:
    ctx = context(connected(), manifest)
    built = ingress.build(ctx)
    (warning,) = built.warnings
    assert warning.startswith("space-ingress: the ConfigMap upbound-system/ingress-public")
    assert says in warning
    assert not built.desired[0].ready
    out = argocd.build(ctx)
    assert out.desired == []
    assert all(says in w.reason for w in out.waiting)


@pytest.mark.parametrize(
    "junk", [3, "text", ["a"], {"atProvider": "x"}, {"atProvider": {"manifest": 4}}]
)
def test_an_odd_observed_status_means_waiting(junk: Any) -> None:
    body = f.observed_body({"apiVersion": "kubernetes.m.crossplane.io/v1alpha1", "kind": "Object"})
    body["status"] = junk
    resources = {n: f.observed_resource(n) for n in READY_CONTROL_PLANES}
    resources["space-ingress"] = fnv1.Resource(resource=resource.dict_to_struct(body))
    ctx = f.context(connected(), resources)
    assert isinstance(ingress.discovered(ctx), ingress.Unknown)
    assert argocd.build(ctx).desired == []
