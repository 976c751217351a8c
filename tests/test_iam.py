"""The IAM builder: provider-upbound teams, robots, memberships, repositories, permissions."""

from function.compose import iam
from function.naming import metadata_name
from tests import factories as f


def test_iam_resources_reference_each_other_by_name() -> None:
    out = f.by_name(iam.build(f.context(f.xr())))
    assert sorted(out) == [
        "repository-permission.configs.app-team",
        "repository-permission.configs.platform",
        "repository.configs",
        "robot-membership.ci.platform",
        "robot.ci",
        "team.app-team",
        "team.platform",
    ]
    team = out["team.platform"]
    assert team["apiVersion"] == "iam.m.upbound.io/v1alpha1"
    assert team["spec"]["forProvider"] == {"name": "platform", "organizationName": "acme"}
    assert team["spec"]["providerConfigRef"] == {"kind": "ClusterProviderConfig", "name": "default"}
    assert out["robot.ci"]["spec"]["forProvider"] == {
        "name": "ci",
        "description": "CI robot",
        "owner": {"name": "acme"},
    }
    membership = out["robot-membership.ci.platform"]["spec"]["forProvider"]
    assert membership == {
        "robotIdRef": {"name": out["robot.ci"]["metadata"]["name"]},
        "teamIdRef": {"name": team["metadata"]["name"]},
    }
    repository = out["repository.configs"]
    assert repository["apiVersion"] == "repository.m.upbound.io/v1alpha1"
    assert repository["metadata"]["annotations"] == {"crossplane.io/external-name": "configs"}
    assert repository["spec"]["forProvider"] == {
        "name": "configs",
        "organizationName": "acme",
        "public": False,
        "publish": False,
    }
    permission = out["repository-permission.configs.app-team"]["spec"]["forProvider"]
    assert permission == {
        "organizationName": "acme",
        "permission": "read",
        "repositoryRef": {"name": metadata_name("acme", "repository.configs")},
        "teamIdRef": {"name": metadata_name("acme", "team.app-team")},
    }


def test_cluster_scoped_iam_kinds() -> None:
    out = f.by_name(iam.build(f.context(f.xr(namespace=None))))
    assert out["team.platform"]["apiVersion"] == "iam.upbound.io/v1alpha1"
    assert out["repository.configs"]["apiVersion"] == "repository.upbound.io/v1alpha1"
    assert out["team.platform"]["spec"]["providerConfigRef"] == {"name": "default"}


def test_robots_get_a_description_when_none_is_given() -> None:
    spec = f.spec()
    spec["iam"]["robots"][0].pop("description")
    out = f.by_name(iam.build(f.context(f.xr(spec))))
    assert out["robot.ci"]["spec"]["forProvider"]["description"] == (
        "Managed by UpboundEnvironment acme"
    )
