"""The UpboundEnvironment XR: its spec and the status the function writes, as pydantic models.

hack/generate.py writes the XRDs and docs/reference.md from `EnvironmentSpec` and
`EnvironmentStatus`. A second XR kind gets a module of its own beside this one, built from
the same parts (function/api/types.py), and a pair in hack/generate.py's XRS.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StrictBool, StringConstraints

from function.api.types import (
    BASE64_PATTERN,
    HOST_PATTERN,
    MAX_ACCESS,
    MAX_CONTROL_PLANES_PER_GROUP,
    MAX_GROUPS,
    MAX_IAM_ENTRIES,
    MAX_PERMISSIONS,
    MAX_ROBOT_TEAMS,
    MAX_TOKENS,
    NO_LEADING_V,
    NO_SECRET_TYPE_LABEL,
    ApiHost,
    ArgoCredentials,
    Channel,
    ClusterNamePrefix,
    CrossplaneVersion,
    DnsLabel,
    DnsSubdomain,
    GroupRole,
    Labels,
    Model,
    PemBundle,
    ProviderConfigs,
    RepositoryPermission,
    SecretKeyRef,
    SpaceType,
    UpboundDomain,
    UpboundId,
    Uuid,
    space_types,
    unique_by,
)


def _has(*path: str) -> str:
    """CEL that is true when every field along `path` (from `self`) is set, e.g. has(a.b)."""
    return " && ".join(f"has({'.'.join(path[: i + 1])})" for i in range(1, len(path)))


_DEFAULTS_CROSSPLANE = ("self", "controlPlaneDefaults", "crossplane")
_CP_CROSSPLANE = ("cp", "crossplane")
# A control plane's channel is its own, else controlPlaneDefaults'; so is its version.
# ... for one control plane `cp` (a ControlPlaneGroup's spec checks its group's with it).
CP_CHANNEL_NONE_NEEDS_VERSION = (
    f"!(({_has(*_CP_CROSSPLANE, 'autoUpgrade', 'channel')}) "
    "? cp.crossplane.autoUpgrade.channel == 'None' "
    f": ({_has(*_DEFAULTS_CROSSPLANE, 'autoUpgrade', 'channel')} "
    "&& self.controlPlaneDefaults.crossplane.autoUpgrade.channel == 'None')) "
    f"|| ({_has(*_CP_CROSSPLANE, 'version')}) "
    f"|| ({_has(*_DEFAULTS_CROSSPLANE, 'version')})"
)
CHANNEL_NONE_NEEDS_VERSION = (
    "!has(self.groups) || self.groups.all(g, !has(g.controlPlanes) || g.controlPlanes.all(cp, "
    f"{CP_CHANNEL_NONE_NEEDS_VERSION}))"
)
CHANNEL_NONE_MESSAGE = (
    "a control plane whose autoUpgrade.channel is None needs crossplane.version (on it or "
    "in controlPlaneDefaults.crossplane)"
)


Sharding = Literal["Auto", "Enabled", "Disabled"]


class Space(Model):
    """The Upbound Space that hosts the control planes, and how Argo CD reaches them."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.type != 'Cloud' || (has(self.name) && self.name != '')",
                    "message": "name is required for Cloud spaces, e.g. upbound-gcp-us-west-1",
                },
            ]
        }
    )

    type: SpaceType = Field(
        description="Cloud (hosted by Upbound), Connected (your cluster, attached to Upbound) "
        "or Disconnected (your cluster, standalone). Decides how Argo CD authenticates: "
        "Cloud and Connected with `up org token` and the organization's token, Disconnected "
        "with each control plane's kubeconfig."
    )
    # A DNS label (or empty): Cloud's API host is <name>.space.mxe.upbound.io.
    name: Annotated[
        str, StringConstraints(pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$", max_length=63)
    ] = Field(
        "",
        description="The Space's name, e.g. upbound-gcp-us-west-1. Required for Cloud, where "
        "the Space API host is <name>.space.mxe.upbound.io.",
        json_schema_extra=space_types("Cloud", "Connected"),
    )
    host: ApiHost = Field(
        "",
        description="API host that Argo CD reaches control planes through, as host[:port] or "
        "an https:// URL. Cloud: defaults to <name>.space.mxe.upbound.io. Connected: "
        "defaults to the Space's own, read from its ConfigMap upbound-system/ingress-public "
        "(as `up ctx` does). Disconnected: unused; each control plane's kubeconfig names "
        "its server.",
        json_schema_extra=space_types("Cloud", "Connected", pattern=HOST_PATTERN),
    )
    ca_bundle: PemBundle = Field(
        "",
        description="Base64 of a PEM CA bundle (base64 -w0 ca.crt) that Argo CD trusts for "
        "the control planes' API (tlsClientConfig.caData). Connected: defaults to the "
        "Space's own ingress CA, read with the host. Disconnected: used when a kubeconfig "
        "carries no CA of its own.",
        json_schema_extra={"pattern": BASE64_PATTERN},
    )


class AutoUpgrade(Model):
    """Crossplane auto upgrades of a control plane."""

    channel: Channel | None = Field(
        None,
        description="Upgrade channel: None (stay on crossplane.version), Patch, Stable or "
        "Rapid. Unset: the default's channel, else Stable.",
    )


class Crossplane(Model):
    """Crossplane settings of a control plane; unset fields fall back to the defaults."""

    version: CrossplaneVersion | None = Field(
        None,
        description="Crossplane version, e.g. 1.20.1-up.1, without a leading v. Required "
        "(here or in the defaults) when the channel is None.",
        json_schema_extra=NO_LEADING_V,
    )
    auto_upgrade: AutoUpgrade | None = Field(
        None, description="How the control plane's Crossplane is upgraded."
    )
    state: Literal["Running", "Paused"] | None = Field(
        None, description="Running, or Paused to scale the control plane's workloads down."
    )


class ControlPlaneDefaults(Model):
    """Settings applied to every control plane unless it overrides them."""

    crossplane: Crossplane = Field(
        Crossplane(), description="Crossplane settings of every control plane."
    )
    protect: StrictBool = Field(
        True,
        description="Orphan, never delete, the ControlPlane (and its group) when the XR or "
        "the entry goes away. Removing an unprotected entry deletes its control plane.",
    )


class ControlPlaneArgo(Model):
    """How Argo CD registers one control plane."""

    # `register` is a BaseModel attribute, hence the trailing underscore.
    register_: StrictBool = Field(
        True,
        alias="register",
        description="Register the control plane as an Argo CD cluster (when argocd.enabled).",
    )
    project: str = Field(
        "",
        max_length=253,
        description="Argo CD project the cluster belongs to; empty for a global cluster.",
    )
    labels: Labels = Field(
        default_factory=dict,
        description="Labels on its cluster Secret, over spec.argocd.labels.",
        json_schema_extra=NO_SECRET_TYPE_LABEL,
    )


class ControlPlane(Model):
    """One control plane in a group."""

    name: DnsLabel = Field(
        description="The ControlPlane's name, unique in its group. Renaming replaces it."
    )
    crossplane: Crossplane = Field(
        Crossplane(),
        description="Crossplane settings; unset fields come from controlPlaneDefaults.",
    )
    protect: StrictBool | None = Field(
        None,
        description="Overrides controlPlaneDefaults.protect for this control plane. Removing "
        "an unprotected entry deletes its control plane.",
    )
    argocd: ControlPlaneArgo = Field(
        ControlPlaneArgo(), description="How Argo CD registers this control plane."
    )


class Access(Model):
    """A team's role on a group (Upbound RBAC), granted with an ObjectRoleBinding."""

    team: DnsLabel = Field(description="A team in spec.iam.teams.")
    role: GroupRole = Field(
        description="viewer, editor or admin: the team's Upbound RBAC role on the group."
    )


class Group(Model):
    """A control plane group: a namespace in the Space."""

    name: DnsLabel = Field(
        description="The group's name: the Space namespace that holds its control planes."
    )
    control_planes: list[ControlPlane] = Field(
        default_factory=list,
        description="The group's control planes.",
        max_length=MAX_CONTROL_PLANES_PER_GROUP,
        json_schema_extra=unique_by("name", "control plane names in a group"),
    )
    access: list[Access] = Field(
        default_factory=list,
        description="Teams' roles on the group: one ObjectRoleBinding in the group's "
        "namespace binds each team, by its Upbound ID, once the Team has one (or "
        "spec.iam.teams[].externalName gives it). Takes effect where the Space enforces "
        "Upbound RBAC (Cloud; self-hosted with Upbound RBAC enabled). Removing an entry "
        "revokes the role.",
        max_length=MAX_ACCESS,
        json_schema_extra=unique_by("team", "teams in access"),
    )
    protect: StrictBool | None = Field(
        None,
        description="Unset: the group is protected (orphaned, never deleted) while "
        "controlPlaneDefaults.protect is true or it holds, or ever held, a protected control "
        "plane, removed ones included. true: always protected. false: releases the group, so "
        "that removing it deletes its namespace and everything still in it; only allowed "
        "when none of its control planes is protected (docs/protection.md).",
    )


class Argo(Model):
    """Argo CD settings of the environment."""

    enabled: StrictBool = Field(
        True, description="Register control planes with Argo CD as cluster Secrets."
    )
    namespace: DnsLabel | None = Field(
        None,
        description="Argo CD's namespace, where the cluster Secrets go. Default: the input's, "
        "else argocd.",
    )
    cluster_name_prefix: ClusterNamePrefix | None = Field(
        None,
        description="Prefix of Argo CD cluster names, <prefix><group>-<name>; a fixed prefix "
        "lets AppProjects and respectRBAC select them. Environments that share one Argo CD "
        "and have the same group and control plane names need distinct prefixes (cluster "
        "Secret names differ anyway: they end in a hash of organization, Space, group and "
        "control plane). Default: the input's, else controlplane-.",
    )
    labels: Labels = Field(
        default_factory=dict,
        description="Labels on every cluster Secret.",
        json_schema_extra=NO_SECRET_TYPE_LABEL,
    )
    credentials: ArgoCredentials | None = Field(
        None,
        description="Where Argo CD's `up org token` gets the Upbound token. Environment: "
        "from Argo CD's own UP_TOKEN environment variable; the token never passes through "
        "Crossplane. ClusterSecret: the function reads tokenSecretRef and writes the token "
        "into each cluster Secret (and so into the Object that wraps it). Default: the "
        "input's, else Environment. See docs/credentials.md.",
        json_schema_extra=space_types("Cloud", "Connected"),
    )
    upbound_domain: UpboundDomain | None = Field(
        None,
        description="Root Upbound domain that `up org token` talks to (its UP_DOMAIN), for "
        "a private Upbound instance. Default: the input's, else https://upbound.io.",
        json_schema_extra=space_types("Cloud", "Connected"),
    )
    token_secret_ref: SecretKeyRef | None = Field(
        None,
        description="ClusterSecret only: the Secret holding the Upbound token. Default: the "
        "input's, else upbound-credentials (key token) in the XR's namespace (a "
        "cluster-scoped XR: crossplane-system). When the input names one, a namespaced XR "
        "may not name another.",
        json_schema_extra=space_types("Cloud", "Connected"),
    )


_PROTECT_IAM = (
    "Overrides spec.iam.protect for this entry. Removing an unprotected entry deletes it in "
    "Upbound."
)


class Team(Model):
    """An Upbound team."""

    name: DnsLabel = Field(description="The team's name in the organization.")
    description: str = Field(
        "", description="Informational only: provider-upbound's Team has no description field."
    )
    external_name: UpboundId | None = Field(
        None,
        description="The Upbound ID of an existing team to adopt instead of creating one "
        "(crossplane.io/external-name). Group access uses it at once.",
    )
    protect: bool | None = Field(None, description=_PROTECT_IAM)


class TokenSecretRef(Model):
    """The Secret a robot token is written to."""

    name: DnsSubdomain = Field(description="The Secret's name.")
    namespace: DnsLabel | None = Field(
        None,
        description="The Secret's namespace. A namespaced XR: only its own (the default). A "
        "cluster-scoped XR: any; default the function input's connectionSecretNamespace.",
    )


class RobotToken(Model):
    """An API token of a robot, written to a Secret (key `token`) that the function never reads."""

    name: DnsLabel = Field(description="The token's name, unique per robot.")
    secret_ref: TokenSecretRef = Field(
        description="The Secret provider-upbound writes the token to, under key token."
    )


class Robot(Model):
    """An Upbound robot, owned by the organization, and its team memberships."""

    name: DnsLabel = Field(description="The robot's name in the organization.")
    description: str = Field(
        "", description="The robot's description. Default: Managed by UpboundEnvironment <xr>."
    )
    teams: list[DnsLabel] = Field(
        default_factory=list,
        description="Teams the robot joins; each must be in spec.iam.teams.",
        max_length=MAX_ROBOT_TEAMS,
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    external_name: Uuid | None = Field(
        None,
        description="The ID (a UUID) of an existing robot to adopt instead of creating one "
        "(crossplane.io/external-name).",
    )
    protect: bool | None = Field(
        None,
        description=_PROTECT_IAM + " Its team memberships and tokens follow it: kept when "
        "the robot is, revoked when only they are removed.",
    )
    tokens: list[RobotToken] = Field(
        default_factory=list,
        description="API tokens of the robot, each written to a Secret.",
        max_length=MAX_TOKENS,
        json_schema_extra=unique_by("name", "token names of a robot"),
    )


class Permission(Model):
    """A team's permission on a repository."""

    team: DnsLabel = Field(description="A team in spec.iam.teams.")
    permission: RepositoryPermission = Field(
        description="admin, write, read or view, as Upbound repository permissions."
    )


class Repository(Model):
    """An Upbound repository and the teams' permissions on it."""

    name: DnsLabel = Field(description="The repository's name in the organization.")
    public: StrictBool = Field(False, description="Anyone may pull from a public repository.")
    publish: StrictBool = Field(
        False, description="List the repository's packages in the Upbound Marketplace."
    )
    permissions: list[Permission] = Field(
        default_factory=list,
        description="Teams' permissions on the repository, one entry per team.",
        max_length=MAX_PERMISSIONS,
        json_schema_extra=unique_by("team", "teams in permissions"),
    )
    protect: bool | None = Field(
        None,
        description=_PROTECT_IAM + " Deleting a repository deletes its packages. Its "
        "permissions follow it.",
    )


class Iam(Model):
    """Upbound IAM: teams, robots and repositories, composed with provider-upbound."""

    protect: bool = Field(
        True,
        description="Orphan, never delete, teams, robots and repositories (and what they "
        "own) when the XR or the entry goes away. Apart from controlPlaneDefaults.protect: "
        "these are organization-wide and a repository holds packages.",
    )
    teams: list[Team] = Field(
        default_factory=list,
        description="Teams of the organization.",
        max_length=MAX_IAM_ENTRIES,
        json_schema_extra=unique_by("name", "team names"),
    )
    robots: list[Robot] = Field(
        default_factory=list,
        description="Robots of the organization and the teams they join.",
        max_length=MAX_IAM_ENTRIES,
        json_schema_extra=unique_by("name", "robot names"),
    )
    repositories: list[Repository] = Field(
        default_factory=list,
        description="Repositories of the organization and the teams' permissions on them.",
        max_length=MAX_IAM_ENTRIES,
        json_schema_extra=unique_by("name", "repository names"),
    )


class EnvironmentSpec(Model):
    """The desired Upbound environment: Space, control planes, Argo CD and IAM."""

    # Crossplane adds its own fields to an XR's spec (compositionRef, crossplane, ...).
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": CHANNEL_NONE_NEEDS_VERSION,
                    "message": CHANNEL_NONE_MESSAGE,
                }
            ]
        },
    )

    organization: DnsLabel = Field(description="The Upbound organization.")
    space: Space = Field(description="The Space that hosts the control planes.")
    provider_configs: ProviderConfigs = Field(
        ProviderConfigs(),
        description="ProviderConfigs of the composed resources; an unset name comes from the "
        "function input, else the built-in default.",
    )
    control_plane_defaults: ControlPlaneDefaults = Field(
        ControlPlaneDefaults(), description="Settings every control plane inherits."
    )
    groups: list[Group] = Field(
        default_factory=list,
        description="Control plane groups and their control planes.",
        max_length=MAX_GROUPS,
        json_schema_extra=unique_by("name", "group names"),
    )
    argocd: Argo = Field(Argo(), description="Registration of control planes with Argo CD.")
    iam: Iam = Field(Iam(), description="Upbound teams, robots and repositories.")
    sharding: Sharding = Field(
        "Auto",
        description="Compose each group through a ControlPlaneGroup XR of its own, so that "
        "one call carries one group. Auto: shard at more than 500 control planes (an "
        "environment already sharded stays so down to 401); Enabled or Disabled force it. "
        "Switching moves each group without deleting or recreating anything (docs/sharding.md).",
    )


# The status that function/status.py writes. Only the XRD uses these models: Crossplane v2
# prunes status fields that its schema lacks. parse() never reads status.


class ControlPlaneStatus(Model):
    """One control plane: where it is, whether it is ready, how Argo CD knows it."""

    group: str = Field("", description="The control plane's group.")
    name: str = Field("", description="The control plane's name.")
    ready: bool = Field(False, description="Whether its ControlPlane is ready.")
    registered: bool = Field(
        False,
        description="Whether its Argo CD cluster Secret exists and is ready (false when it "
        "is not to be registered).",
    )
    message: str = Field(
        "",
        description="Ready (the ControlPlane ready and, if it is to be registered, its Argo "
        "CD cluster Secret too), or what it waits for.",
    )
    server: str = Field("", description="Its API URL (Cloud, Connected, or a kubeconfig's).")
    argo_cluster: str = Field(
        "", description="Its Argo CD cluster name, once its cluster Secret is composed."
    )


class AccessStatus(Model):
    """One group's access binding: whether it is in place, or what it waits for."""

    group: str = Field("", description="The group.")
    ready: bool = Field(False, description="Whether its ObjectRoleBinding's Object is ready.")
    message: str = Field("", description="Ready, or what it waits for (a group, a team's ID).")


class Summary(Model):
    """Counts of what the environment holds, for `kubectl get` columns."""

    groups: int = Field(0, description="Control plane groups.")
    control_planes: int = Field(0, description="Control planes.")
    control_planes_ready: int = Field(0, description="Control planes that are ready.")
    teams: int = Field(0, description="Teams.")
    robots: int = Field(0, description="Robots.")
    repositories: int = Field(0, description="Repositories.")


class EnvironmentStatus(Model):
    """Control planes and counts, written by the function.

    Conditions beside Crossplane's Ready and Synced: ControlPlanesReady, ClustersRegistered
    and IAMReady, each True when everything of its concern is ready and nothing waits.
    """

    control_planes: list[ControlPlaneStatus] = Field(
        default_factory=list, description="Every control plane, by group then name."
    )
    access: list[AccessStatus] = Field(
        default_factory=list, description="Every group with access, by name."
    )
    summary: Summary = Field(Summary(), description="Counts of what the environment holds.")
