"""The group builder: a Namespace per group, labelled for the Space."""

from function.compose import groups
from tests import factories as f


def test_a_namespace_object_per_group_on_the_space_config() -> None:
    out = f.by_name(groups.build(f.context(f.xr())))
    assert sorted(out) == ["group.dev", "group.prod"]
    dev = out["group.dev"]
    assert dev["apiVersion"] == "kubernetes.m.crossplane.io/v1alpha1"
    assert dev["metadata"]["namespace"] == "platform"
    assert dev["spec"]["providerConfigRef"] == {
        "kind": "ClusterProviderConfig",
        "name": "upbound-space",
    }
    assert f.manifest(dev) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "dev", "labels": {"spaces.upbound.io/group": "true"}},
    }


def test_protection_by_flavour() -> None:
    namespaced = f.by_name(groups.build(f.context(f.xr())))["group.dev"]["spec"]
    assert namespaced["managementPolicies"] == ["Observe", "Create", "Update", "LateInitialize"]
    assert "deletionPolicy" not in namespaced
    cluster = f.by_name(groups.build(f.context(f.xr(namespace=None))))["group.dev"]
    assert cluster["apiVersion"] == "kubernetes.crossplane.io/v1alpha2"
    assert cluster["spec"]["deletionPolicy"] == "Orphan"
    assert cluster["spec"]["providerConfigRef"] == {"name": "upbound-space"}
    assert "namespace" not in cluster["metadata"]


def test_unprotected_groups_carry_no_policy() -> None:
    spec = f.spec(controlPlaneDefaults={"protect": False})
    out = f.by_name(groups.build(f.context(f.xr(spec))))
    assert "managementPolicies" not in out["group.dev"]["spec"]


def test_readiness_comes_from_the_observed_ready_condition() -> None:
    observed = {
        "group.dev": f.observed_resource("group.dev", ready=True),
        "group.prod": f.observed_resource("group.prod", ready=False),
    }
    out = groups.build(f.context(f.xr(), observed))
    assert {d.name: d.ready for d in out.desired} == {"group.dev": True, "group.prod": False}


def test_a_removed_protected_group_is_orphaned_before_it_is_dropped() -> None:
    spec = f.spec(groups=[{"name": "dev"}])
    unprotected = f.observed_resource("group.prod", spec_={"forProvider": {"manifest": {}}})
    first = groups.build(f.context(f.xr(spec), {"group.prod": unprotected}))
    kept = f.by_name(first)["group.prod"]
    assert kept["spec"]["managementPolicies"] == ["Observe", "Create", "Update", "LateInitialize"]
    assert [w.name for w in first.waiting] == ["group.prod"]

    orphaned = f.observed_resource("group.prod", spec_=kept["spec"])
    second = groups.build(f.context(f.xr(spec), {"group.prod": orphaned}))
    assert "group.prod" not in f.by_name(second)
    assert second.waiting == []


def test_a_removed_group_is_dropped_at_once_when_nothing_is_protected() -> None:
    spec = f.spec(groups=[{"name": "dev"}], controlPlaneDefaults={"protect": False})
    out = groups.build(f.context(f.xr(spec), ["group.prod"]))
    assert list(f.by_name(out)) == ["group.dev"]
