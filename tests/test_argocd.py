"""The Argo CD builder: a cluster Secret per registered, ready control plane."""

import json
from typing import Any

from pydantic import SecretStr

from function.compose import argocd
from function.compose.common import Composition
from tests import factories as f

READY_CONTROL_PLANES = ["controlplane.dev.ctp1", "controlplane.dev.ctp2", "controlplane.prod.ctp1"]
TOKEN = SecretStr(f.TOKEN)


def test_cloud_cluster_secret() -> None:
    out = argocd.build(f.context(f.xr(), READY_CONTROL_PLANES))
    composed = f.by_name(out)
    assert sorted(composed) == [
        "argocd-cluster.dev.ctp1",
        "argocd-cluster.dev.ctp2",
        "argocd-cluster.prod.ctp1",
    ]
    obj = composed["argocd-cluster.dev.ctp2"]
    assert obj["spec"]["providerConfigRef"]["name"] == "argocd"
    secret = f.manifest(obj)
    assert secret["metadata"]["name"] == "controlplane-dev-ctp2-94473222"
    assert secret["metadata"]["namespace"] == "argocd"
    assert secret["metadata"]["labels"] == {
        "argocd.argoproj.io/secret-type": "cluster",
        "env": "dev",
        "platform.upbound.io/controlplane": "ctp2",
        "platform.upbound.io/group": "dev",
        "platform.upbound.io/organization": "acme",
    }
    assert "stringData" not in secret
    data = f.secret_data(obj)
    assert data["name"] == "controlplane-dev-ctp2"
    assert data["project"] == "team-a"
    assert data["server"] == (
        "https://upbound-gcp-us-west-1.space.mxe.upbound.io/apis/spaces.upbound.io/v1beta1"
        "/namespaces/dev/controlplanes/ctp2/k8s"
    )
    assert json.loads(data["config"]) == {
        "execProviderConfig": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": "up",
            "args": ["org", "token"],
            # Environment: `up` reads UP_TOKEN from Argo CD's own environment.
            "env": {"ORGANIZATION": "acme"},
        },
        "tlsClientConfig": {"insecure": False},
    }
    assert out.clusters["dev", "ctp2"].cluster_name == "controlplane-dev-ctp2"


def exec_env(out: Composition, name: str = "argocd-cluster.dev.ctp1") -> dict[str, str]:
    config = json.loads(f.secret_data(f.by_name(out)[name])["config"])
    env: dict[str, str] = config["execProviderConfig"]["env"]
    return env


def test_cluster_secret_credentials_write_the_token_into_the_secret() -> None:
    xr = f.xr(f.spec(argocd=f.CLUSTER_SECRET))
    out = argocd.build(f.context(xr, READY_CONTROL_PLANES, token=TOKEN))
    assert exec_env(out) == {"ORGANIZATION": "acme", "UP_TOKEN": f.TOKEN}


def test_a_private_upbound_domain_is_passed_to_up() -> None:
    xr = f.xr(f.spec(argocd={"upboundDomain": "https://upbound.acme.example.com"}))
    out = argocd.build(f.context(xr, READY_CONTROL_PLANES))
    assert exec_env(out) == {
        "ORGANIZATION": "acme",
        "UP_DOMAIN": "https://upbound.acme.example.com",
    }


def secret_names(spec: dict[str, Any], observed: dict[str, Any] | None = None) -> dict[str, str]:
    ready = {n: f.observed_resource(n) for n in READY_CONTROL_PLANES}
    out = argocd.build(f.context(f.xr(spec), {**ready, **(observed or {})}))
    return {name: f.manifest(obj)["metadata"]["name"] for name, obj in f.by_name(out).items()}


def test_cluster_secret_names_differ_between_spaces_and_organizations() -> None:
    cloud = secret_names(f.spec())
    other_space = secret_names(f.spec(space={"type": "Cloud", "name": "upbound-aws-us-east-1"}))
    other_org = secret_names(f.spec(organization="other"))
    connected = secret_names(f.spec(space={"type": "Connected", "host": "proxy.example.com",
                                           "caBundle": f.CA_DATA.decode()}))  # fmt: skip
    for name in cloud:
        names = {cloud[name], other_space[name], other_org[name], connected[name]}
        assert len(names) == 4, names
        assert all(n.startswith("controlplane-" + name.split(".", 1)[1].replace(".", "-") + "-")
                   for n in names)  # fmt: skip


def test_a_cluster_secret_composed_before_unique_names_keeps_its_name() -> None:
    legacy = {"forProvider": {"manifest": {"metadata": {"name": "controlplane-dev-ctp1"}}}}
    other = {"forProvider": {"manifest": {"metadata": {"name": "someone-elses-secret"}}}}
    earlier_space = {
        "forProvider": {"manifest": {"metadata": {"name": "controlplane-prod-ctp1-0123abcd"}}}
    }
    names = secret_names(
        f.spec(),
        {
            "argocd-cluster.dev.ctp1": f.observed_resource("argocd-cluster.dev.ctp1", spec_=legacy),
            "argocd-cluster.dev.ctp2": f.observed_resource("argocd-cluster.dev.ctp2", spec_=other),
            "argocd-cluster.prod.ctp1": f.observed_resource(
                "argocd-cluster.prod.ctp1", spec_=earlier_space
            ),
        },
    )
    assert names["argocd-cluster.dev.ctp1"] == "controlplane-dev-ctp1"
    # Only names this function gives the cluster are kept, never any observed name.
    assert names["argocd-cluster.dev.ctp2"] == "controlplane-dev-ctp2-94473222"
    # Hashed for the Space the spec named before: kept, so nothing is renamed.
    assert names["argocd-cluster.prod.ctp1"] == "controlplane-prod-ctp1-0123abcd"


def test_connected_uses_the_ingress_host_and_ca_bundle() -> None:
    spec = f.spec(
        space={
            "type": "Connected",
            "host": "proxy.acme.example.com",
            "caBundle": f.CA_DATA.decode(),
        }
    )
    obj = f.by_name(argocd.build(f.context(f.xr(spec), READY_CONTROL_PLANES)))[
        "argocd-cluster.prod.ctp1"
    ]
    data = f.secret_data(obj)
    assert data["server"].startswith("https://proxy.acme.example.com/apis/spaces.upbound.io/")
    assert json.loads(data["config"])["tlsClientConfig"] == {
        "insecure": False,
        "caData": f.CA_DATA.decode(),
    }


def test_clusters_wait_for_their_control_plane() -> None:
    out = argocd.build(f.context(f.xr(), ["controlplane.dev.ctp1"], token=TOKEN))
    assert list(f.by_name(out)) == ["argocd-cluster.dev.ctp1"]
    assert {w.name for w in out.waiting} == {"argocd-cluster.dev.ctp2", "argocd-cluster.prod.ctp1"}


def test_unregistered_and_disabled_compose_nothing() -> None:
    spec = f.spec()
    spec["groups"][0]["controlPlanes"][0]["argocd"] = {"register": False}
    out = argocd.build(f.context(f.xr(spec), READY_CONTROL_PLANES, token=TOKEN))
    assert "argocd-cluster.dev.ctp1" not in f.by_name(out)
    spec["argocd"]["enabled"] = False
    assert argocd.build(f.context(f.xr(spec), READY_CONTROL_PLANES, token=TOKEN)).desired == []


def test_without_the_token_yet_new_clusters_wait_and_existing_ones_stay() -> None:
    observed = {n: f.observed_resource(n) for n in READY_CONTROL_PLANES}
    existing_spec = {"forProvider": {"manifest": {"kind": "Secret"}}}
    observed["argocd-cluster.dev.ctp1"] = f.observed_resource(
        "argocd-cluster.dev.ctp1", spec_=existing_spec
    )
    out = argocd.build(f.context(f.xr(f.spec(argocd=f.CLUSTER_SECRET)), observed))
    composed = f.by_name(out)
    assert list(composed) == ["argocd-cluster.dev.ctp1"]
    assert composed["argocd-cluster.dev.ctp1"]["spec"] == existing_spec
    reasons = {w.name: w.reason for w in out.waiting}
    assert set(reasons) == {f"argocd-cluster.{n.split('.', 1)[1]}" for n in READY_CONTROL_PLANES}
    assert all(
        r.startswith("waiting for Crossplane to supply the Upbound token Secret")
        for r in reasons.values()
    )
    # The kept one waits too: the XR is not Ready and the TTL stays short until it is rebuilt.
    assert reasons["argocd-cluster.dev.ctp1"].endswith(
        "keeping the current cluster Secret until then"
    )


def disconnected(observed_kubeconfig: bytes | None) -> tuple[dict[str, Any], Composition]:
    spec = f.spec(
        space={"type": "Disconnected"},
        groups=[{"name": "edge", "controlPlanes": [{"name": "ctp1"}]}],
    )
    details = {"kubeconfig": observed_kubeconfig} if observed_kubeconfig is not None else {}
    observed = {
        "controlplane.edge.ctp1": f.observed_resource(
            "controlplane.edge.ctp1", connection_details=details
        )
    }
    out = argocd.build(f.context(f.xr(spec), observed))
    return f.by_name(out), out


def test_disconnected_reads_server_token_and_ca_from_the_kubeconfig() -> None:
    composed, out = disconnected(f.kubeconfig())
    data = f.secret_data(composed["argocd-cluster.edge.ctp1"])
    assert data["server"] == "https://ctp1.edge.example.com:6443"
    assert json.loads(data["config"]) == {
        "bearerToken": f.KUBECONFIG_TOKEN,
        "tlsClientConfig": {"insecure": False, "caData": f.CA_DATA.decode()},
    }
    assert out.clusters["edge", "ctp1"].server == "https://ctp1.edge.example.com:6443"


def test_disconnected_waits_for_the_kubeconfig() -> None:
    composed, out = disconnected(None)
    assert composed == {}
    assert [w.reason for w in out.waiting] == [
        "waiting for the control plane's kubeconfig connection details"
    ]


def test_a_broken_kubeconfig_warns_without_quoting_it() -> None:
    composed, out = disconnected(b"clusters: [\n  token: " + f.KUBECONFIG_TOKEN.encode())
    assert composed == {}
    assert len(out.warnings) == 1
    assert "edge/ctp1" in out.warnings[0]
    assert f.KUBECONFIG_TOKEN not in out.warnings[0]
