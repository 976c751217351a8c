"""Tests of tests/schemas.py: real mistakes are caught, correct resources pass."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from tests import schemas
from tests.schemas import assert_valid, validate

# --- Builders of realistic resources ------------------------------------------------------


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def k8s_object(manifest: dict[str, Any], *, namespaced: bool = False) -> dict[str, Any]:
    """A provider-kubernetes Object: namespaced (v2 `.m.`) or cluster-scoped v1alpha2."""
    name = f"{manifest['metadata']['name']}-{manifest['kind'].lower()}"
    if namespaced:
        return {
            "apiVersion": "kubernetes.m.crossplane.io/v1alpha1",
            "kind": "Object",
            "metadata": {"name": name, "namespace": "platform"},
            "spec": {
                "forProvider": {"manifest": manifest},
                "managementPolicies": ["*"],
                "providerConfigRef": {"kind": "ClusterProviderConfig", "name": "upbound-space"},
            },
        }
    return {
        "apiVersion": "kubernetes.crossplane.io/v1alpha2",
        "kind": "Object",
        "metadata": {"name": name, "labels": {"upbound.io/environment": "acme"}},
        "spec": {
            "forProvider": {"manifest": manifest},
            "managementPolicies": ["*"],
            "providerConfigRef": {"name": "upbound-space"},
        },
    }


def namespace(name: str = "acme-dev") -> dict[str, Any]:
    """A Spaces control plane group: a Namespace labelled as a group."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"spaces.upbound.io/group": "true"}},
    }


def controlplane(crossplane: dict[str, Any] | None = None, name: str = "ctp-dev") -> dict[str, Any]:
    spec: dict[str, Any] = {"writeConnectionSecretToRef": {"name": f"kubeconfig-{name}"}}
    spec["crossplane"] = (
        {"autoUpgrade": {"channel": "Stable"}} if crossplane is None else crossplane
    )
    return {
        "apiVersion": "spaces.upbound.io/v1beta1",
        "kind": "ControlPlane",
        "metadata": {"name": name, "namespace": "acme-dev"},
        "spec": spec,
    }


ARGO_CONFIG: dict[str, Any] = {
    "execProviderConfig": {
        "command": "up",
        "args": ["org", "token"],
        "env": {"ORGANIZATION": "acme", "UP_TOKEN": "robot-token"},
        "apiVersion": "client.authentication.k8s.io/v1",
    },
    "tlsClientConfig": {"insecure": False},
}


def argocd_secret(config: Any = ARGO_CONFIG, **data: str) -> dict[str, Any]:
    """An Argo CD cluster Secret for a control plane; data values are given in plain text."""
    plain = {
        "name": "acme-dev-ctp-dev",
        "server": "https://acme.space.example.com/apis/spaces.upbound.io/v1beta1/ctp-dev/k8s",
        "config": config if isinstance(config, str) else json.dumps(config),
        **data,
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": "cluster-acme-dev-ctp-dev",
            "namespace": "argocd",
            "labels": {"argocd.argoproj.io/secret-type": "cluster"},
        },
        "data": {key: b64(value) for key, value in plain.items()},
    }


def upbound(api_version: str, kind: str, for_provider: dict[str, Any]) -> dict[str, Any]:
    """A provider-upbound managed resource; the namespaced (`.m.`) groups need a kind in refs."""
    resource: dict[str, Any] = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": f"acme-{kind.lower()}"},
        "spec": {"forProvider": for_provider},
    }
    if ".m." in api_version:
        resource["metadata"]["namespace"] = "platform"
        resource["spec"]["providerConfigRef"] = {"kind": "ProviderConfig", "name": "upbound"}
    else:
        resource["spec"]["providerConfigRef"] = {"name": "upbound"}
    return resource


def changed(resource: dict[str, Any], path: str, value: Any = ...) -> dict[str, Any]:
    """A deep copy with the dotted path set to value, or deleted if value is omitted."""
    out = copy.deepcopy(resource)
    *parents, last = path.split(".")
    node = out
    for key in parents:
        node = node[key]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return out


M = "spec.forProvider.manifest"  # where a wrapped manifest's errors are located


def upbound_resources(group_suffix: str) -> dict[str, dict[str, Any]]:
    """Valid Team, Robot, RobotTeamMembership, Token, Repository and Permission of one scope."""
    iam, repo = f"iam.{group_suffix}/v1alpha1", f"repository.{group_suffix}/v1alpha1"
    return {
        "Team": upbound(iam, "Team", {"name": "platform", "organizationName": "acme"}),
        "Robot": upbound(
            iam,
            "Robot",
            {"name": "argocd", "description": "Argo CD access", "owner": {"name": "acme"}},
        ),
        "RobotTeamMembership": upbound(
            iam,
            "RobotTeamMembership",
            {"robotIdRef": {"name": "acme-robot"}, "teamIdRef": {"name": "acme-team"}},
        ),
        "Token": upbound(
            iam,
            "Token",
            {"name": "argocd", "owner": {"type": "robots", "idRef": {"name": "acme-robot"}}},
        ),
        "Repository": upbound(
            repo,
            "Repository",
            {
                "name": "configuration",
                "organizationName": "acme",
                "public": False,
                "publish": False,
            },
        ),
        "Permission": upbound(
            repo,
            "Permission",
            {
                "organizationName": "acme",
                "permission": "read",
                "repositoryRef": {"name": "acme-repository"},
                "teamIdRef": {"name": "acme-team"},
            },
        ),
    }


CLUSTER_UPBOUND = upbound_resources("upbound.io")
NAMESPACED_UPBOUND = upbound_resources("m.upbound.io")

OBJECT_ROLE_BINDING = {
    "apiVersion": "authorization.spaces.upbound.io/v1alpha1",
    "kind": "ObjectRoleBinding",
    "metadata": {"name": "acme-dev-platform", "namespace": "acme-dev"},
    "spec": {
        "object": {"apiGroup": "core", "resource": "namespaces", "name": "acme-dev"},
        "subjects": [
            {
                "kind": "UpboundTeam",
                "name": "0b1e3c8a-5d2f-4c1e-9a7b-3f6d2e1c0a9b",
                "role": "editor",
            }
        ],
    },
}

# --- Valid resources ----------------------------------------------------------------------

VALID: dict[str, dict[str, Any]] = {
    "group-namespace-in-cluster-object": k8s_object(namespace()),
    "group-namespace-in-namespaced-object": k8s_object(namespace(), namespaced=True),
    "namespaced-object-default-provider-config": changed(
        k8s_object(namespace(), namespaced=True), "spec.providerConfigRef"
    ),
    "controlplane-stable-channel": k8s_object(controlplane(), namespaced=True),
    "controlplane-empty-crossplane-gets-default-channel": k8s_object(controlplane({})),
    "controlplane-pinned-with-channel-none": k8s_object(
        controlplane({"version": "1.20.1-up.1", "autoUpgrade": {"channel": "None"}}),
        namespaced=True,
    ),
    "controlplane-patch-channel-paused": k8s_object(
        controlplane(
            {"version": "1.20.1-up.1", "autoUpgrade": {"channel": "Patch"}, "state": "Paused"}
        )
    ),
    "argocd-cluster-secret": k8s_object(argocd_secret()),
    "argocd-cluster-secret-namespaced-object": k8s_object(argocd_secret(), namespaced=True),
    "argocd-cluster-secret-optional-keys": k8s_object(
        argocd_secret(namespaces="a,b", clusterResources="true", project="acme", shard="1")
    ),
    "plain-secret-may-use-string-data": k8s_object(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "token", "namespace": "crossplane-system"},
            "stringData": {"token": "t0k3n"},
        }
    ),
    "object-readiness-policy-defaulted-before-cel": changed(
        k8s_object(namespace()), "spec.readiness", {}
    ),
    "object-readiness-cel-query": changed(
        k8s_object(namespace()),
        "spec.readiness",
        {"policy": "DeriveFromCelQuery", "celQuery": "object.status.phase == 'Active'"},
    ),
    "deprecated-object-v1alpha1": changed(
        changed(k8s_object(namespace()), "apiVersion", "kubernetes.crossplane.io/v1alpha1"),
        "spec.managementPolicies",
    ),
    "object-role-binding-in-object": k8s_object(OBJECT_ROLE_BINDING),
    **{f"upbound-{kind}": resource for kind, resource in CLUSTER_UPBOUND.items()},
    **{f"upbound-m-{kind}": resource for kind, resource in NAMESPACED_UPBOUND.items()},
    # public and publish are required, but default to false, as the API server fills them in
    "upbound-repository-public-publish-defaulted": changed(
        changed(NAMESPACED_UPBOUND["Repository"], "spec.forProvider.public"),
        "spec.forProvider.publish",
    ),
    "upbound-repository-external-name-annotation": changed(
        CLUSTER_UPBOUND["Repository"],
        "metadata.annotations",
        {"crossplane.io/external-name": "configuration"},
    ),
}


@pytest.mark.parametrize("resource", VALID.values(), ids=VALID.keys())
def test_accepts_valid_resources(resource: dict[str, Any]) -> None:
    assert validate(resource) == []
    assert_valid(resource)


# --- Invalid resources: (resource, location, fragment of the message) -----------------------

CP = k8s_object(controlplane(), namespaced=True)
NS = k8s_object(namespace())
ARGO = k8s_object(argocd_secret())


def with_config(config: Any) -> dict[str, Any]:
    return k8s_object(argocd_secret(config))


def without_env_map() -> dict[str, Any]:
    config = copy.deepcopy(ARGO_CONFIG)
    config["execProviderConfig"]["env"] = [{"name": "ORGANIZATION", "value": "acme"}]
    return with_config(config)


def with_unknown_config_key() -> dict[str, Any]:
    config = copy.deepcopy(ARGO_CONFIG)
    config["tlsClientConfig"]["insecureSkipTLSVerify"] = True
    return with_config(config)


def string_data_argocd() -> dict[str, Any]:
    secret = argocd_secret()
    secret["stringData"] = {"config": json.dumps(ARGO_CONFIG)}
    del secret["data"]["config"]
    return k8s_object(secret)


INVALID: dict[str, tuple[dict[str, Any], str, str]] = {
    # ControlPlane (spaces CRD, CEL included)
    "controlplane-version-leading-v": (
        changed(CP, f"{M}.spec.crossplane", {"version": "v1.2.3"}),
        f"{M}.spec.crossplane.version",
        "The version must not start with a leading 'v'",
    ),
    "controlplane-empty-version": (
        changed(CP, f"{M}.spec.crossplane", {"version": ""}),
        f"{M}.spec.crossplane.version",
        "must not start with a leading 'v'",
    ),
    "controlplane-channel-none-without-version": (
        changed(CP, f"{M}.spec.crossplane", {"autoUpgrade": {"channel": "None"}}),
        f"{M}.spec",
        '"version" cannot be empty when upgrade channel is "None"',
    ),
    "controlplane-without-crossplane-like-cel-go": (
        changed(CP, f"{M}.spec.crossplane"),
        f"{M}.spec",
        '"version" cannot be empty',
    ),
    "controlplane-unknown-field-under-crossplane": (
        changed(CP, f"{M}.spec.crossplane.versoin", "1.20.1-up.1"),
        f"{M}.spec.crossplane.versoin",
        "unknown field",
    ),
    "controlplane-channel-enum": (
        changed(CP, f"{M}.spec.crossplane.autoUpgrade.channel", "stable"),
        f"{M}.spec.crossplane.autoUpgrade.channel",
        "'stable' is not one of ['None', 'Patch', 'Stable', 'Rapid']",
    ),
    "controlplane-type-error-blocks-cel": (
        changed(CP, f"{M}.spec.crossplane", {"version": 1.2}),
        M,
        "some validation rules were not checked",
    ),
    "controlplane-name-over-63": (
        changed(CP, f"{M}.metadata.name", "c" * 64),
        M,
        "control plane name cannot exceed 63 characters",
    ),
    "controlplane-connection-secret-without-name": (
        changed(CP, f"{M}.spec.writeConnectionSecretToRef", {"namespace": "acme-dev"}),
        f"{M}.spec.writeConnectionSecretToRef",
        "'name' is a required property",
    ),
    # provider-kubernetes Object
    "namespaced-object-provider-config-without-kind": (
        changed(CP, "spec.providerConfigRef", {"name": "upbound-space"}),
        "spec.providerConfigRef",
        "'kind' is a required property",
    ),
    "cluster-object-provider-config-with-kind": (
        changed(NS, "spec.providerConfigRef.kind", "ProviderConfig"),
        "spec.providerConfigRef.kind",
        "unknown field",
    ),
    "object-without-manifest": (
        changed(NS, "spec.forProvider", {}),
        "spec.forProvider",
        "'manifest' is a required property",
    ),
    "object-management-policy-enum": (
        changed(NS, "spec.managementPolicies", ["All"]),
        "spec.managementPolicies[0]",
        "'All' is not one of",
    ),
    "object-readiness-cel-query-missing": (
        changed(NS, "spec.readiness", {"policy": "DeriveFromCelQuery"}),
        "spec.readiness",
        "celQuery must be set if policy is DeriveFromCelQuery",
    ),
    "namespaced-object-connection-secret-namespace": (
        changed(CP, "spec.writeConnectionSecretToRef", {"name": "s", "namespace": "other"}),
        "spec.writeConnectionSecretToRef.namespace",
        "unknown field",
    ),
    "cluster-object-with-namespace": (
        changed(NS, "metadata.namespace", "platform"),
        "metadata.namespace",
        "set on a cluster-scoped kind",
    ),
    "manifest-without-api-version": (
        changed(NS, f"{M}.apiVersion"),
        M,
        "'apiVersion' is a required property",
    ),
    "wrapped-service-has-no-schema": (
        k8s_object({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "c"}}),
        M,
        "no schema for wrapped v1 Service",
    ),
    "wrapped-configmap-with-unknown-field": (
        k8s_object({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "dta": {}}),
        f"{M}.dta",
        "unknown field",
    ),
    "wrapped-object-has-no-schema": (
        k8s_object(NS),
        M,
        "no schema for wrapped kubernetes.crossplane.io/v1alpha2 Object",
    ),
    # Wrapped Namespace (kubernetes-validate, strict)
    "namespace-label-value-not-a-string": (
        changed(NS, f"{M}.metadata.labels", {"spaces.upbound.io/group": True}),
        f'{M}.metadata.labels["spaces.upbound.io/group"]',
        "True is not of type 'string'",
    ),
    "namespace-name-uppercase": (
        changed(NS, f"{M}.metadata.name", "Acme-Dev"),
        f"{M}.metadata.name",
        "does not match",
    ),
    "namespace-name-is-a-label-not-a-subdomain": (
        changed(NS, f"{M}.metadata.name", "acme.dev"),
        f"{M}.metadata.name",
        "'acme.dev' does not match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'",
    ),
    "namespace-name-over-63": (
        changed(NS, f"{M}.metadata.name", "n" * 64),
        f"{M}.metadata.name",
        "is too long",
    ),
    "namespace-with-namespace": (
        changed(NS, f"{M}.metadata.namespace", "default"),
        f"{M}.metadata.namespace",
        "set on a cluster-scoped kind",
    ),
    "namespace-unknown-spec-field": (
        changed(NS, f"{M}.spec", {"finalizers": ["kubernetes"], "deletionPolicy": "Orphan"}),
        f"{M}.spec.deletionPolicy",
        "unknown field",
    ),
    "namespace-metadata-typo": (
        changed(NS, f"{M}.metadata.label", {"a": "b"}),
        f"{M}.metadata.label",
        "unknown field",
    ),
    # Wrapped Argo CD cluster Secret
    "argocd-string-data": (
        string_data_argocd(),
        f"{M}.stringData",
        "must use base64 `data`, not `stringData`",
    ),
    "argocd-string-data-leaves-config-missing": (
        string_data_argocd(),
        f"{M}.data",
        "'config' is a required property",
    ),
    "argocd-env-as-list": (
        without_env_map(),
        f"{M}.data.config(json).execProviderConfig.env",
        "is not of type 'object'",
    ),
    "argocd-unknown-config-key": (
        with_unknown_config_key(),
        f"{M}.data.config(json).tlsClientConfig.insecureSkipTLSVerify",
        "unknown field",
    ),
    "argocd-config-not-json": (
        with_config("{execProviderConfig: {}}"),
        f"{M}.data.config(json)",
        "not JSON",
    ),
    "argocd-missing-server": (
        changed(ARGO, f"{M}.data.server"),
        f"{M}.data",
        "'server' is a required property",
    ),
    "argocd-unknown-key": (
        changed(ARGO, f"{M}.data.clusterName", b64("acme")),
        f"{M}.data.clusterName",
        "unknown field",
    ),
    "argocd-cluster-resources-enum": (
        k8s_object(argocd_secret(clusterResources="yes")),
        f"{M}.data.clusterResources",
        "'yes' is not one of ['true', 'false']",
    ),
    "argocd-data-not-base64": (
        changed(ARGO, f"{M}.data.server", "https://acme.example.com"),
        f"{M}.data.server",
        "not valid base64",
    ),
    "secret-key-with-space": (
        changed(ARGO, f"{M}.data", {**ARGO["spec"]["forProvider"]["manifest"]["data"], "a b": ""}),
        f'{M}.data["a b"]',
        "a Secret key must consist of",
    ),
    "secret-unknown-field": (
        changed(ARGO, f"{M}.immutible", True),
        f"{M}.immutible",
        "unknown field",
    ),
    # provider-upbound
    "team-organization-id-wrong-type": (
        changed(CLUSTER_UPBOUND["Team"], "spec.forProvider.organizationId", "acme"),
        "spec.forProvider.organizationId",
        "'acme' is not of type 'integer'",
    ),
    "team-without-name": (
        changed(NAMESPACED_UPBOUND["Team"], "spec.forProvider.name"),
        "spec.forProvider",
        "'name' is a required property",
    ),
    "m-team-provider-config-without-kind": (
        changed(NAMESPACED_UPBOUND["Team"], "spec.providerConfigRef", {"name": "upbound"}),
        "spec.providerConfigRef",
        "'kind' is a required property",
    ),
    "team-cluster-scoped-with-namespace": (
        changed(CLUSTER_UPBOUND["Team"], "metadata.namespace", "platform"),
        "metadata.namespace",
        "set on a cluster-scoped kind",
    ),
    "robot-without-owner": (
        changed(CLUSTER_UPBOUND["Robot"], "spec.forProvider.owner"),
        "spec.forProvider",
        "'owner' is a required property",
    ),
    "robot-without-description": (
        changed(NAMESPACED_UPBOUND["Robot"], "spec.forProvider.description"),
        "spec.forProvider",
        "'description' is a required property",
    ),
    "membership-ref-without-name": (
        changed(CLUSTER_UPBOUND["RobotTeamMembership"], "spec.forProvider.robotIdRef", {}),
        "spec.forProvider.robotIdRef",
        "'name' is a required property",
    ),
    "cluster-membership-ref-with-namespace": (
        changed(
            CLUSTER_UPBOUND["RobotTeamMembership"],
            "spec.forProvider.teamIdRef",
            {"name": "t", "namespace": "platform"},
        ),
        "spec.forProvider.teamIdRef.namespace",
        "unknown field",
    ),
    "repository-without-organization": (
        changed(CLUSTER_UPBOUND["Repository"], "spec.forProvider.organizationName"),
        "spec.forProvider",
        "'organizationName' is a required property",
    ),
    "m-repository-without-name": (
        changed(NAMESPACED_UPBOUND["Repository"], "spec.forProvider.name"),
        "spec.forProvider",
        "'name' is a required property",
    ),
    "repository-public-as-string": (
        changed(CLUSTER_UPBOUND["Repository"], "spec.forProvider.public", "false"),
        "spec.forProvider.public",
        "'false' is not of type 'boolean'",
    ),
    "permission-enum": (
        changed(CLUSTER_UPBOUND["Permission"], "spec.forProvider.permission", "owner"),
        "spec.forProvider.permission",
        "'owner' is not one of ['admin', 'read', 'write', 'view']",
    ),
    "m-permission-without-organization": (
        changed(NAMESPACED_UPBOUND["Permission"], "spec.forProvider.organizationName"),
        "spec.forProvider",
        "'organizationName' is a required property",
    ),
    "token-owner-type-enum": (
        changed(CLUSTER_UPBOUND["Token"], "spec.forProvider.owner.type", "robot"),
        "spec.forProvider.owner.type",
        "'robot' is not one of",
    ),
    "resource-without-spec": (
        changed(CLUSTER_UPBOUND["Team"], "spec"),
        "(root)",
        "'spec' is a required property",
    ),
    "unknown-kind": (
        {"apiVersion": "iam.upbound.io/v1alpha1", "kind": "Group", "metadata": {"name": "g"}},
        "(root)",
        "no schema for iam.upbound.io/v1alpha1 Group",
    ),
    "unknown-version": (
        changed(CLUSTER_UPBOUND["Team"], "apiVersion", "iam.upbound.io/v1beta1"),
        "(root)",
        "no schema for iam.upbound.io/v1beta1 Team",
    ),
    "bare-namespace-is-not-composed": (
        namespace(),
        "(root)",
        "no schema for v1 Namespace",
    ),
    # metadata of any resource
    "metadata-name-with-space": (
        changed(CLUSTER_UPBOUND["Team"], "metadata.name", "acme team"),
        "metadata.name",
        "does not match",
    ),
    "metadata-label-value-with-slash": (
        changed(CLUSTER_UPBOUND["Team"], "metadata.labels", {"upbound.io/team": "acme/platform"}),
        'metadata.labels["upbound.io/team"]',
        "does not match",
    ),
    "metadata-annotation-not-a-string": (
        changed(CLUSTER_UPBOUND["Team"], "metadata.annotations", {"upbound.io/size": 3}),
        'metadata.annotations["upbound.io/size"]',
        "3 is not of type 'string'",
    ),
    "metadata-server-field": (
        changed(CLUSTER_UPBOUND["Team"], "metadata.uid", "1234"),
        "metadata.uid",
        "unknown field",
    ),
    # ObjectRoleBinding (spaces CRD): CEL and list-map keys
    "role-binding-api-group-cel": (
        k8s_object(changed(OBJECT_ROLE_BINDING, "spec.object.apiGroup", "spaces.upbound.io")),
        f"{M}.spec.object.apiGroup",
        "apiGroup must be 'core' for now",
    ),
    "role-binding-duplicate-subject": (
        k8s_object(
            changed(
                OBJECT_ROLE_BINDING,
                "spec.subjects",
                [
                    {"kind": "UpboundTeam", "name": "platform", "role": "editor"},
                    {"kind": "UpboundTeam", "name": "platform", "role": "viewer"},
                ],
            )
        ),
        f"{M}.spec.subjects[1]",
        "duplicate entry for keys ['kind', 'name']",
    ),
}


@pytest.mark.parametrize(("resource", "location", "fragment"), INVALID.values(), ids=INVALID.keys())
def test_rejects_invalid_resources(resource: dict[str, Any], location: str, fragment: str) -> None:
    errors = validate(resource)
    assert any(e.startswith(f"{location}: ") and fragment in e for e in errors), errors
    with pytest.raises(AssertionError, match="is invalid"):
        assert_valid(resource)


# --- Behaviour of the module ----------------------------------------------------------------


def test_assert_valid_names_the_resource_and_lists_every_error() -> None:
    resource = changed(CP, f"{M}.spec.crossplane", {"version": "v1", "versoin": "1"})
    with pytest.raises(AssertionError) as raised:
        assert_valid(resource)
    text = str(raised.value)
    assert "Object 'ctp-dev-controlplane'" in text
    assert "wrapping spaces.upbound.io/v1beta1 ControlPlane 'ctp-dev'" in text
    assert "leading 'v'" in text
    assert f"{M}.spec.crossplane.versoin: unknown field" in text


def test_validate_does_not_mutate_the_resource() -> None:
    resource = changed(k8s_object(controlplane({})), "spec.readiness", {})
    before = copy.deepcopy(resource)
    assert validate(resource) == []
    assert resource == before  # defaults were applied to a copy


def test_crds_dir_defaults_next_to_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(schemas.CRDS_DIR_ENV, raising=False)
    repo_root = Path(schemas.__file__).resolve().parent.parent
    assert schemas.crds_dir() == repo_root.parent / "shared" / "crds"
    assert (schemas.reference_root() / "spaces" / "spaces.upbound.io_controlplanes.yaml").is_file()


def test_missing_reference_data_skips_only_when_asked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(schemas.CRDS_DIR_ENV, str(tmp_path / "absent"))
    monkeypatch.delenv(schemas.SKIP_ENV, raising=False)
    assert schemas.reference_root() == tmp_path / "absent"  # the caller then fails on it
    monkeypatch.setenv(schemas.SKIP_ENV, "1")
    with pytest.raises(pytest.skip.Exception, match="no reference data"):
        schemas.reference_root()


@pytest.fixture
def fresh_index() -> Any:
    schemas._index.cache_clear()
    yield
    schemas._index.cache_clear()


@pytest.mark.usefixtures("fresh_index")
def test_crds_dir_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(schemas.CRDS_DIR_ENV, str(tmp_path))
    assert schemas.crds_dir() == tmp_path
    with pytest.raises(FileNotFoundError, match="no CRDs found"):
        validate(CLUSTER_UPBOUND["Team"])


def test_index_holds_every_served_version_of_every_folder() -> None:
    index = schemas._index()
    assert {crd.folder for crd in index.values()} >= {
        "provider-kubernetes",
        "provider-upbound",
        "spaces",
    }
    for key in [
        ("kubernetes.crossplane.io/v1alpha1", "Object"),
        ("kubernetes.crossplane.io/v1alpha2", "Object"),
        ("kubernetes.m.crossplane.io/v1alpha1", "Object"),
        ("iam.m.upbound.io/v1alpha1", "RobotTeamMembership"),
        ("repository.upbound.io/v1alpha1", "Permission"),
        ("spaces.upbound.io/v1beta1", "ControlPlane"),
    ]:
        assert key in index
    assert index[("spaces.upbound.io/v1beta1", "ControlPlane")].cluster_scoped is False
    assert index[("iam.upbound.io/v1alpha1", "Team")].cluster_scoped is True


CORE_MANIFESTS = {
    "namespace": namespace(),
    "namespace-unknown-field": changed(namespace(), "spec", {"finalizer": ["kubernetes"]}),
    "secret": argocd_secret(),
    "secret-data-not-a-map": changed(argocd_secret(), "data", ["a"]),
    "secret-unknown-field": changed(argocd_secret(), "stringdata", {}),
}


@pytest.mark.parametrize("manifest", CORE_MANIFESTS.values(), ids=CORE_MANIFESTS.keys())
def test_core_kinds_agree_with_kubernetes_validate(manifest: dict[str, Any]) -> None:
    try:
        kubernetes_validate.validate(manifest, kubernetes_validate.latest_version(), strict=True)
        upstream_valid = True
    except kubernetes_validate.ValidationError:
        upstream_valid = False
    assert (validate(k8s_object(manifest)) == []) is upstream_valid


CONVERSIONS = {
    "unknown-field-rejected": (
        {"type": "object", "properties": {"a": {"type": "string"}}},
        {"b": "x"},
        False,
    ),
    "preserve-unknown-fields": (
        {
            "type": "object",
            "properties": {"a": {"type": "string"}},
            "x-kubernetes-preserve-unknown-fields": True,
        },
        {"b": "x"},
        True,
    ),
    "object-without-properties-is-pruned": ({"type": "object"}, {"b": 1}, False),
    "additional-properties-map": (
        {"type": "object", "additionalProperties": {"type": "string"}},
        {"b": "x"},
        True,
    ),
    "int-or-string-int": ({"x-kubernetes-int-or-string": True}, 8080, True),
    "int-or-string-string": ({"x-kubernetes-int-or-string": True}, "http", True),
    "int-or-string-bool": ({"x-kubernetes-int-or-string": True}, True, False),
    "null-not-allowed": ({"type": "string"}, None, False),
    "nullable": ({"type": "string", "nullable": True}, None, True),
    "nullable-enum": ({"type": "string", "nullable": True, "enum": ["a"]}, None, True),
    "list-set-duplicates": (
        {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
        ["a", "a"],
        False,
    ),
    "embedded-resource-needs-kind": (
        {
            "type": "object",
            "x-kubernetes-embedded-resource": True,
            "x-kubernetes-preserve-unknown-fields": True,
        },
        {"apiVersion": "v1", "metadata": {"name": "a"}, "data": {}},
        False,
    ),
    "embedded-resource-metadata-checked": (
        {
            "type": "object",
            "x-kubernetes-embedded-resource": True,
            "x-kubernetes-preserve-unknown-fields": True,
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "A_B"}},
        False,
    ),
    "embedded-resource-unknown-fields-kept": (
        {
            "type": "object",
            "x-kubernetes-embedded-resource": True,
            "x-kubernetes-preserve-unknown-fields": True,
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {}},
        True,
    ),
    "format-tolerated": ({"type": "string", "format": "date-time"}, "yesterday", True),
}


@pytest.mark.parametrize(
    ("node", "instance", "valid"), CONVERSIONS.values(), ids=CONVERSIONS.keys()
)
def test_to_jsonschema_keeps_kubernetes_semantics(
    node: dict[str, Any], instance: Any, valid: bool
) -> None:
    validator = jsonschema.Draft202012Validator(schemas.to_jsonschema(node))
    assert validator.is_valid(instance) is valid


CEL_CASES = {
    "true": ("self.size() > 1", "ab", None),
    "false": ("self.size() > 1", "a", ""),
    "has-absent-last-field": ("has(self.a.b)", {"a": {}}, ""),
    "has-present": ("has(self.a.b)", {"a": {"b": 1}}, None),
    "has-absent-intermediate-is-an-error-as-in-cel-go": ("has(self.a.b)", {}, "no such"),
    "missing-field-is-an-error": ("self.a == 'x'", {}, "no such"),
    "error-short-circuited-by-or": ("self.a == 'x' || true", {}, None),
    "not-a-bool": ("self.size()", "abc", "not a bool"),
    "syntax-error": ("self ==", "x", "CEL error"),
}


@pytest.mark.parametrize(("rule", "value", "expected"), CEL_CASES.values(), ids=CEL_CASES.keys())
def test_cel_evaluation(rule: str, value: Any, expected: str | None) -> None:
    result = schemas._evaluate(rule, value)
    if expected is None or expected == "":
        assert result == expected
    else:
        assert result is not None
        assert expected in result


def test_rule_walker_skips_transition_rules_and_absent_fields() -> None:
    node = {
        "type": "object",
        "properties": {
            "a": {
                "type": "string",
                "x-kubernetes-validations": [
                    {"rule": "self == oldSelf", "message": "immutable"},
                    {"rule": "self != 'bad'", "message": "a must not be bad"},
                ],
            },
            "b": {"type": "string", "x-kubernetes-validations": [{"rule": "false"}]},
        },
    }
    assert list(schemas._rule_errors(node, {"a": "good"}, [], "")) == []
    assert list(schemas._rule_errors(node, {"a": "bad"}, [], "x")) == ["x.a: a must not be bad"]
    assert list(schemas._rule_errors(node, {"b": ""}, [], "")) == ["b: false"]


def test_defaults_are_applied_recursively_inside_present_objects() -> None:
    node = {
        "type": "object",
        "properties": {
            "present": {
                "type": "object",
                "properties": {
                    "channel": {"type": "string", "default": "Stable"},
                    "inner": {
                        "type": "object",
                        "default": {},
                        "properties": {"x": {"type": "integer", "default": 1}},
                    },
                },
            },
            "absent": {"type": "object", "properties": {"y": {"type": "string", "default": "d"}}},
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"z": {"type": "boolean", "default": False}},
                },
            },
        },
    }
    value: dict[str, Any] = {"present": {}, "items": [{}, {"z": True}]}
    schemas._apply_defaults(node, value)
    assert value == {
        "present": {"channel": "Stable", "inner": {"x": 1}},
        "items": [{"z": False}, {"z": True}],
    }


def test_cel_programs_are_compiled_once() -> None:
    validate(CP)
    misses = schemas._program.cache_info().misses
    for _ in range(3):
        validate(CP)
    assert schemas._program.cache_info().misses == misses
