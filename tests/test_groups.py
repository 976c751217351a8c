"""The group builder: a Namespace per group, labelled for the Space."""

from typing import Any

from function.compose import groups
from function.compose.common import HOLDS_PROTECTED_ANNOTATION, PROTECT_ANNOTATION, Composition
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


def test_groups_record_the_protection_chosen() -> None:
    protected = f.by_name(groups.build(f.context(f.xr())))
    assert protected["group.dev"]["metadata"]["annotations"] == {
        PROTECT_ANNOTATION: "true",
        HOLDS_PROTECTED_ANNOTATION: "ctp1,ctp2",
    }
    spec = f.spec(controlPlaneDefaults={"protect": False})
    unprotected = f.by_name(groups.build(f.context(f.xr(spec, namespace=None))))
    assert unprotected["group.dev"]["metadata"]["annotations"] == {PROTECT_ANNOTATION: "false"}


def composed(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The group Objects composed for `spec`."""
    return f.by_name(groups.build(f.context(f.xr(spec))))


def build_without_prod(applied: dict[str, dict[str, Any]], *, protect: bool) -> Composition:
    """Build the groups once `prod` is removed, Crossplane having applied `applied`."""
    spec = f.spec(groups=[{"name": "dev"}], controlPlaneDefaults={"protect": protect})
    return groups.build(f.context(f.xr(spec), f.observe(applied)))


def test_a_removed_group_composed_unprotected_is_deleted_even_under_protecting_defaults() -> None:
    applied = composed(f.spec(controlPlaneDefaults={"protect": False}))
    assert applied["group.prod"]["metadata"]["annotations"][PROTECT_ANNOTATION] == "false"
    out = build_without_prod(applied, protect=True)
    assert list(f.by_name(out)) == ["group.dev"]
    assert out.waiting == []


def test_a_removed_protected_group_is_dropped_at_once() -> None:
    applied = composed(f.spec(groups=[{"name": "dev"}, {"name": "prod"}]))
    assert HOLDS_PROTECTED_ANNOTATION not in applied["group.prod"]["metadata"]["annotations"]
    out = build_without_prod(applied, protect=True)
    assert list(f.by_name(out)) == ["group.dev"]
    assert out.waiting == []


def test_a_removed_group_that_holds_protected_control_planes_keeps_its_record() -> None:
    """Dropped, its record would go with it; the same group added again would not know."""
    applied = composed(f.spec())
    out = build_without_prod(applied, protect=False)
    kept = f.by_name(out)["group.prod"]
    assert kept == applied["group.prod"], "kept as it is: protected, recording ctp1"
    assert kept["metadata"]["annotations"][HOLDS_PROTECTED_ANNOTATION] == "ctp1"
    assert out.waiting == [], "nothing to wait for: it is protected already"


def test_a_removed_group_from_an_earlier_version_is_orphaned_before_it_is_dropped() -> None:
    applied = composed(f.spec(controlPlaneDefaults={"protect": False}))
    del applied["group.prod"]["metadata"]["annotations"]  # composed before the annotation
    first = build_without_prod(applied, protect=True)
    kept = f.by_name(first)["group.prod"]
    assert kept["spec"]["managementPolicies"] == ["Observe", "Create", "Update", "LateInitialize"]
    assert kept["metadata"]["annotations"] == {PROTECT_ANNOTATION: "true"}
    assert [w.name for w in first.waiting] == ["group.prod"]

    second = build_without_prod({**applied, "group.prod": kept}, protect=True)
    assert "group.prod" not in f.by_name(second)
    assert second.waiting == []


def test_a_removed_group_is_dropped_at_once_when_nothing_is_protected() -> None:
    spec = f.spec(groups=[{"name": "dev"}], controlPlaneDefaults={"protect": False})
    out = groups.build(f.context(f.xr(spec), ["group.prod"]))  # no annotation: defaults decide
    assert list(f.by_name(out)) == ["group.dev"]
