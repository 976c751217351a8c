"""The control plane builder: a ControlPlane per entry, after its group is ready."""

from typing import Any

from function.compose import controlplanes
from function.compose.common import PROTECT_ANNOTATION, Composition
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
        "spec": {"crossplane": {"autoUpgrade": {"channel": "Rapid"}}},
    }
    # Cloud: Argo CD uses the `up` CLI, so the Space writes no kubeconfig Secret (the field
    # is deprecated in the ControlPlane CRD) and none comes back to Crossplane.
    assert "connectionDetails" not in ctp["spec"]


KUBECONFIG_DETAILS = [
    {
        "apiVersion": "v1",
        "kind": "Secret",
        "name": "kubeconfig-ctp1",
        "namespace": "dev",
        "fieldPath": "data.kubeconfig",
        "toConnectionSecretKey": "kubeconfig",
    }
]


def test_disconnected_control_planes_bring_their_kubeconfig_back_once_ready() -> None:
    spec = f.spec(space={"type": "Disconnected"})
    spec["groups"][0]["controlPlanes"][1]["argocd"] = {"register": False}
    # Not ready yet: the Space writes the kubeconfig Secret, the Object does not read it yet
    # (provider-kubernetes would fail to observe the missing Secret: Synced=False).
    out = f.by_name(controlplanes.build(f.context(f.xr(spec), ["group.dev"])))
    ctp1 = out["controlplane.dev.ctp1"]
    assert f.manifest(ctp1)["spec"]["writeConnectionSecretToRef"] == {
        "name": "kubeconfig-ctp1",
        "namespace": "dev",
    }
    assert "connectionDetails" not in ctp1["spec"]
    assert "writeConnectionSecretToRef" not in ctp1["spec"]

    ready = f.context(f.xr(spec), ["group.dev", "controlplane.dev.ctp1"])
    out = f.by_name(controlplanes.build(ready))
    ctp1 = out["controlplane.dev.ctp1"]["spec"]
    assert ctp1["connectionDetails"] == KUBECONFIG_DETAILS
    assert ctp1["writeConnectionSecretToRef"] == {
        "name": out["controlplane.dev.ctp1"]["metadata"]["name"]
    }
    # Not registered with Argo CD: the Space writes no kubeconfig, none comes back.
    ctp2 = out["controlplane.dev.ctp2"]
    assert "connectionDetails" not in ctp2["spec"]
    assert "writeConnectionSecretToRef" not in f.manifest(ctp2)["spec"]

    ready_cluster = f.context(f.xr(spec, namespace=None), ["group.dev", "controlplane.dev.ctp1"])
    cluster = f.by_name(controlplanes.build(ready_cluster))
    ref = cluster["controlplane.dev.ctp1"]["spec"]["writeConnectionSecretToRef"]
    assert ref["namespace"] == "crossplane-system"


def test_the_kubeconfig_stays_connected_when_the_control_plane_turns_unready() -> None:
    spec = f.spec(space={"type": "Disconnected"})
    observed = {
        "group.dev": f.observed_resource("group.dev"),
        "controlplane.dev.ctp1": f.observed_resource(
            "controlplane.dev.ctp1",
            ready=False,
            spec_={"forProvider": {"manifest": {}}, "connectionDetails": KUBECONFIG_DETAILS},
        ),
    }
    out = f.by_name(controlplanes.build(f.context(f.xr(spec), observed)))
    assert out["controlplane.dev.ctp1"]["spec"]["connectionDetails"] == KUBECONFIG_DETAILS


def test_protect_per_control_plane() -> None:
    spec = f.spec()
    spec["groups"][0]["controlPlanes"][1]["protect"] = False
    out = f.by_name(controlplanes.build(f.context(f.xr(spec, namespace=None), ["group.dev"])))
    assert out["controlplane.dev.ctp1"]["spec"]["deletionPolicy"] == "Orphan"
    assert out["controlplane.dev.ctp1"]["metadata"]["annotations"] == {PROTECT_ANNOTATION: "true"}
    assert "deletionPolicy" not in out["controlplane.dev.ctp2"]["spec"]
    assert out["controlplane.dev.ctp2"]["metadata"]["annotations"] == {PROTECT_ANNOTATION: "false"}


def composed(ctp2: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The Objects of group dev, its ctp2 entry being `ctp2` (cluster-scoped XR)."""
    spec = f.spec(groups=[{"name": "dev", "controlPlanes": [{"name": "ctp1"}, ctp2]}])
    return f.by_name(controlplanes.build(f.context(f.xr(spec, namespace=None), ["group.dev"])))


def build_without_ctp2(applied: dict[str, dict[str, Any]], *, protect: bool = True) -> Composition:
    """Build the control planes once dev/ctp2 is removed, Crossplane having applied `applied`."""
    spec = f.spec(
        groups=[{"name": "dev", "controlPlanes": [{"name": "ctp1"}]}],
        controlPlaneDefaults={"protect": protect},
    )
    observed = {"group.dev": f.observed_resource("group.dev"), **f.observe(applied)}
    return controlplanes.build(f.context(f.xr(spec, namespace=None), observed))


def test_a_removed_control_plane_composed_unprotected_is_deleted() -> None:
    out = build_without_ctp2(composed({"name": "ctp2", "protect": False}))
    assert sorted(f.by_name(out)) == ["controlplane.dev.ctp1"]
    assert out.waiting == []


def test_a_removed_protected_control_plane_is_dropped_at_once() -> None:
    out = build_without_ctp2(composed({"name": "ctp2"}))
    assert sorted(f.by_name(out)) == ["controlplane.dev.ctp1"]
    assert out.waiting == []


def test_a_removed_control_plane_from_an_earlier_version_is_orphaned_first_then_released() -> None:
    applied = composed({"name": "ctp2", "protect": False})
    del applied["controlplane.dev.ctp2"]["metadata"]["annotations"]  # before the annotation
    first = build_without_ctp2(applied)
    orphaning = f.by_name(first)["controlplane.dev.ctp2"]
    assert orphaning["spec"]["deletionPolicy"] == "Orphan"
    as_applied = applied["controlplane.dev.ctp2"]
    assert orphaning["spec"]["forProvider"] == as_applied["spec"]["forProvider"]
    assert orphaning["metadata"]["annotations"] == {PROTECT_ANNOTATION: "true"}
    assert [w.name for w in first.waiting] == ["controlplane.dev.ctp2"]

    second = build_without_ctp2({**applied, "controlplane.dev.ctp2": orphaning})
    assert sorted(f.by_name(second)) == ["controlplane.dev.ctp1"]


def test_a_removed_control_plane_meant_protected_is_orphaned_whatever_the_defaults() -> None:
    applied = composed({"name": "ctp2"})
    del applied["controlplane.dev.ctp2"]["spec"]["deletionPolicy"]  # protection lost outside
    out = build_without_ctp2(applied, protect=False)
    assert f.by_name(out)["controlplane.dev.ctp2"]["spec"]["deletionPolicy"] == "Orphan"
