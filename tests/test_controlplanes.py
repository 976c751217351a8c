"""The control plane builder: a ControlPlane per entry, after its group is ready."""

from function.compose import controlplanes
from tests import factories as f


def test_control_planes_wait_for_their_group() -> None:
    out = controlplanes.build(f.context(f.xr(), ["group.dev"]))
    assert sorted(f.by_name(out)) == ["controlplane.dev.ctp1", "controlplane.dev.ctp2"]
    assert [(w.name, w.reason) for w in out.waiting] == [
        ("controlplane.prod.ctp1", "waiting for group prod to be ready")
    ]


def test_an_existing_control_plane_stays_even_if_its_group_is_not_ready() -> None:
    observed = {
        "group.prod": f.observed_resource("group.prod", ready=False),
        "controlplane.prod.ctp1": f.observed_resource("controlplane.prod.ctp1"),
    }
    out = controlplanes.build(f.context(f.xr(), observed))
    assert "controlplane.prod.ctp1" in f.by_name(out)


def test_the_control_plane_manifest() -> None:
    out = f.by_name(controlplanes.build(f.context(f.xr(), ["group.dev", "group.prod"])))
    ctp = out["controlplane.dev.ctp1"]
    assert ctp["spec"]["readiness"] == {"policy": "DeriveFromObject"}
    assert ctp["spec"]["providerConfigRef"]["name"] == "upbound-space"
    assert f.manifest(ctp) == {
        "apiVersion": "spaces.upbound.io/v1beta1",
        "kind": "ControlPlane",
        "metadata": {"name": "ctp1", "namespace": "dev"},
        "spec": {
            "crossplane": {"autoUpgrade": {"channel": "Rapid"}},
            "writeConnectionSecretToRef": {"name": "kubeconfig-ctp1", "namespace": "dev"},
        },
    }
    # Cloud: Argo CD uses the `up` CLI, so no kubeconfig comes back to Crossplane.
    assert "connectionDetails" not in ctp["spec"]


def test_disconnected_control_planes_bring_their_kubeconfig_back() -> None:
    spec = f.spec(space={"type": "Disconnected"})
    spec["groups"][0]["controlPlanes"][1]["argocd"] = {"register": False}
    out = f.by_name(controlplanes.build(f.context(f.xr(spec), ["group.dev"])))
    ctp1 = out["controlplane.dev.ctp1"]["spec"]
    assert ctp1["connectionDetails"] == [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "name": "kubeconfig-ctp1",
            "namespace": "dev",
            "fieldPath": "data.kubeconfig",
            "toConnectionSecretKey": "kubeconfig",
        }
    ]
    assert ctp1["writeConnectionSecretToRef"] == {
        "name": out["controlplane.dev.ctp1"]["metadata"]["name"]
    }
    # Not registered with Argo CD: its kubeconfig stays in the Space.
    assert "connectionDetails" not in out["controlplane.dev.ctp2"]["spec"]

    cluster = f.by_name(controlplanes.build(f.context(f.xr(spec, namespace=None), ["group.dev"])))
    ref = cluster["controlplane.dev.ctp1"]["spec"]["writeConnectionSecretToRef"]
    assert ref["namespace"] == "crossplane-system"


def test_protect_per_control_plane() -> None:
    spec = f.spec()
    spec["groups"][0]["controlPlanes"][1]["protect"] = False
    out = f.by_name(controlplanes.build(f.context(f.xr(spec, namespace=None), ["group.dev"])))
    assert out["controlplane.dev.ctp1"]["spec"]["deletionPolicy"] == "Orphan"
    assert "deletionPolicy" not in out["controlplane.dev.ctp2"]["spec"]


def test_a_removed_control_plane_is_orphaned_first_then_released() -> None:
    spec = f.spec(groups=[{"name": "dev", "controlPlanes": [{"name": "ctp1"}]}])
    observed = {
        "group.dev": f.observed_resource("group.dev"),
        "controlplane.dev.ctp1": f.observed_resource("controlplane.dev.ctp1"),
        "controlplane.dev.ctp2": f.observed_resource(
            "controlplane.dev.ctp2", spec_={"forProvider": {"manifest": {"kind": "ControlPlane"}}}
        ),
    }
    first = controlplanes.build(f.context(f.xr(spec, namespace=None), observed))
    orphaning = f.by_name(first)["controlplane.dev.ctp2"]
    assert orphaning["spec"]["deletionPolicy"] == "Orphan"
    assert orphaning["spec"]["forProvider"] == {"manifest": {"kind": "ControlPlane"}}

    observed["controlplane.dev.ctp2"] = f.observed_resource(
        "controlplane.dev.ctp2", spec_=orphaning["spec"]
    )
    second = controlplanes.build(f.context(f.xr(spec, namespace=None), observed))
    assert sorted(f.by_name(second)) == ["controlplane.dev.ctp1"]
