"""The UpboundEnvironment XR spec and the function input, as typed models.

`parse` turns the raw XR and the function input into one resolved `Environment`, or raises
`SpecError` listing every problem with its field path. Nothing is composed from a spec that
has a problem, so a typo never makes Crossplane delete what a valid spec composed before.

Precedence of settings: built-in defaults < function input (Composition) < the XR's spec.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

import pydantic
from pydantic import AfterValidator, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
LABEL_KEY = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
LABEL_VALUE = r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$"

DnsLabel = Annotated[str, StringConstraints(pattern=DNS_LABEL, min_length=1, max_length=63)]
DnsSubdomain = Annotated[
    str, StringConstraints(pattern=DNS_SUBDOMAIN, min_length=1, max_length=253)
]
LabelKey = Annotated[str, StringConstraints(pattern=LABEL_KEY, max_length=317)]
LabelValue = Annotated[str, StringConstraints(pattern=LABEL_VALUE, max_length=63)]
Labels = dict[LabelKey, LabelValue]
# Upbound versions look like 1.20.1-up.1; the Spaces API rejects a leading 'v'.
CrossplaneVersion = Annotated[str, StringConstraints(pattern=r"^[0-9][0-9A-Za-z.+-]*$")]
NO_LEADING_V: dict[str, Any] = {
    "x-kubernetes-validations": [
        {
            "rule": "!self.startsWith('v')",
            "message": "must not start with a leading 'v': write 1.20.1-up.1, not v1.20.1-up.1",
        }
    ]
}
HOST_PATTERN = r"^\s*(https://)?([a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?)?/*\s*$"
BASE64_PATTERN = r"^[A-Za-z0-9+/]*={0,2}$"
Channel = Literal["None", "Patch", "Stable", "Rapid"]
SpaceType = Literal["Cloud", "Connected", "Disconnected"]
RepositoryPermission = Literal["admin", "read", "write", "view"]

ARGO_SECRET_TYPE_LABEL = "argocd.argoproj.io/secret-type"  # noqa: S105 - a label key.
# The function sets this label on cluster Secrets itself.
NO_SECRET_TYPE_LABEL: dict[str, Any] = {
    "x-kubernetes-validations": [
        {
            "rule": f"!('{ARGO_SECRET_TYPE_LABEL}' in self)",
            "message": f"must not set {ARGO_SECRET_TYPE_LABEL}: the function sets it",
        }
    ]
}
DEFAULT_PROVIDER_CONFIGS = {"space": "upbound-space", "argocd": "argocd", "upbound": "default"}
DEFAULT_TOKEN_SECRET_REF = {"name": "upbound-credentials", "namespace": "crossplane-system"}

# --- What the XRD adds to the models' JSON Schema (hack/generate.py writes the XRDs). ---------
# parse() checks all of this itself; the XRD repeats it so that `kubectl apply` rejects a bad
# XR at once. Kubernetes estimates each CEL rule's cost from list bounds, so every list that a
# rule walks has a maxItems (n-squared uniqueness checks stay far below the per-rule budget).
SPACE_TYPES_KEY = "x-doc-space-types"  # documentation only; hack/generate.py strips it
MAX_GROUPS = 100
MAX_CONTROL_PLANES_PER_GROUP = 100
MAX_IAM_ENTRIES = 200
MAX_PERMISSIONS = 50
MAX_ROBOT_TEAMS = 50


def unique_by(key: str, what: str) -> dict[str, Any]:
    """Schema extras for a list whose items' `key` must be unique: a CEL rule.

    The list's bound is the field's `max_length`, which parse() enforces too.

    Args:
        key: The item field that must differ, e.g. `name`.
        what: The plural noun for the message, e.g. `group names`.

    Returns:
        JSON Schema keywords for pydantic's `json_schema_extra`.
    """
    return {
        "x-kubernetes-validations": [
            {
                "rule": f"self.all(x, self.exists_one(y, y.{key} == x.{key}))",
                "message": f"{what} must be unique",
            }
        ],
    }


def space_types(*types: str, **keywords: Any) -> dict[str, Any]:
    """Schema extras naming the Space types a field applies to (for docs/reference.md).

    Args:
        types: The Space types, e.g. Cloud, Connected.
        keywords: More JSON Schema keywords for the field.

    Returns:
        JSON Schema keywords for pydantic's `json_schema_extra`.
    """
    return {SPACE_TYPES_KEY: list(types), **keywords}


def _has(*path: str) -> str:
    """CEL that is true when every field along `path` (from `self`) is set, e.g. has(a.b)."""
    return " && ".join(f"has({'.'.join(path[: i + 1])})" for i in range(1, len(path)))


_DEFAULTS_CROSSPLANE = ("self", "controlPlaneDefaults", "crossplane")
_CP_CROSSPLANE = ("cp", "crossplane")
# A control plane's channel is its own, else controlPlaneDefaults'; so is its version.
CHANNEL_NONE_NEEDS_VERSION = (
    "!has(self.groups) || self.groups.all(g, !has(g.controlPlanes) || g.controlPlanes.all(cp, "
    f"!(({_has(*_CP_CROSSPLANE, 'autoUpgrade', 'channel')}) "
    "? cp.crossplane.autoUpgrade.channel == 'None' "
    f": ({_has(*_DEFAULTS_CROSSPLANE, 'autoUpgrade', 'channel')} "
    "&& self.controlPlaneDefaults.crossplane.autoUpgrade.channel == 'None')) "
    f"|| ({_has(*_CP_CROSSPLANE, 'version')}) "
    f"|| ({_has(*_DEFAULTS_CROSSPLANE, 'version')})))"
)


class Model(pydantic.BaseModel):
    """Base of every spec model: camelCase on the wire, strict about unknown fields."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


def _host(value: str) -> str:
    """Normalise an API host: accept `host[:port]` or an https URL, return `host[:port]`."""
    host = value.strip().removeprefix("https://").rstrip("/")
    if host and not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?", host):
        msg = "must be a host name such as proxy.example.com[:443], or an https:// URL of one"
        raise ValueError(msg)
    return host


def _pem_bundle(value: str) -> str:
    """Check that a CA bundle is base64 of PEM certificates, as Argo CD's caData wants."""
    if not value:
        return value
    try:
        pem = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        msg = "must be base64 of a PEM CA bundle (base64 -w0 ca.crt)"
        raise ValueError(msg) from None
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        msg = "must be base64 of a PEM bundle holding at least one CERTIFICATE"
        raise ValueError(msg)
    return value


class Space(Model):
    """The Upbound Space that hosts the control planes, and how Argo CD reaches them."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.type != 'Cloud' || (has(self.name) && self.name != '')",
                    "message": "name is required for Cloud spaces, e.g. upbound-gcp-us-west-1",
                },
                {
                    "rule": "self.type != 'Connected' || (has(self.host) && self.host != '')",
                    "message": "host is required for Connected spaces: the ingress host that "
                    "`up ctx` prints for the Space",
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
    name: Annotated[str, StringConstraints(pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$")] = Field(
        "",
        description="The Space's name, e.g. upbound-gcp-us-west-1. Required for Cloud, where "
        "the Space API host is <name>.space.mxe.upbound.io.",
        json_schema_extra=space_types("Cloud", "Connected"),
    )
    host: Annotated[str, AfterValidator(_host)] = Field(
        "",
        description="API host that Argo CD reaches control planes through, as host[:port] or "
        "an https:// URL. Cloud: defaults to <name>.space.mxe.upbound.io. Connected: "
        "required, the ingress host `up ctx` prints. Disconnected: unused; each control "
        "plane's kubeconfig names its server.",
        json_schema_extra=space_types("Cloud", "Connected", pattern=HOST_PATTERN),
    )
    ca_bundle: Annotated[str, AfterValidator(_pem_bundle)] = Field(
        "",
        description="Base64 of a PEM CA bundle (base64 -w0 ca.crt) that Argo CD trusts for "
        "the control planes' API (tlsClientConfig.caData). Disconnected: used when a "
        "kubeconfig carries no CA of its own.",
        json_schema_extra={"pattern": BASE64_PATTERN},
    )


class ProviderConfigs(Model):
    """Names of the ProviderConfigs that composed resources use."""

    space: DnsSubdomain | None = Field(
        None,
        description="provider-kubernetes config that reaches the Space API (groups and "
        "control planes). Built-in default: upbound-space.",
    )
    argocd: DnsSubdomain | None = Field(
        None,
        description="provider-kubernetes config that reaches the Argo CD cluster (cluster "
        "Secrets). Built-in default: argocd.",
    )
    upbound: DnsSubdomain | None = Field(
        None,
        description="provider-upbound config (teams, robots, repositories). Built-in "
        "default: default.",
    )
    kind: Literal["ProviderConfig", "ClusterProviderConfig"] | None = Field(
        None,
        description="providerConfigRef.kind of what a namespaced XR composes: "
        "ClusterProviderConfig (the default) or ProviderConfig in the XR's namespace. A "
        "cluster-scoped XR always uses ProviderConfig.",
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
    protect: bool = Field(
        True,
        description="Orphan, never delete, the ControlPlane (and its group) when the XR or "
        "the entry goes away. Removing an unprotected entry deletes its control plane.",
    )


class ControlPlaneArgo(Model):
    """How Argo CD registers one control plane."""

    # `register` is a BaseModel attribute, hence the trailing underscore.
    register_: bool = Field(
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
    protect: bool | None = Field(
        None,
        description="Overrides controlPlaneDefaults.protect for this control plane. Removing "
        "an unprotected entry deletes its control plane.",
    )
    argocd: ControlPlaneArgo = Field(
        ControlPlaneArgo(), description="How Argo CD registers this control plane."
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


class SecretKeyRef(Model):
    """A key of a Secret in the Crossplane cluster."""

    name: DnsSubdomain = Field(description="The Secret's name.")
    namespace: DnsLabel = Field(description="The Secret's namespace.")
    key: Annotated[str, StringConstraints(pattern=r"^[-._a-zA-Z0-9]+$", max_length=253)] = Field(
        "token", description="The key in the Secret's data."
    )


class Argo(Model):
    """Argo CD settings of the environment."""

    enabled: bool = Field(
        True, description="Register control planes with Argo CD as cluster Secrets."
    )
    namespace: DnsLabel | None = Field(
        None,
        description="Argo CD's namespace, where the cluster Secrets go. Default: the input's, "
        "else argocd.",
    )
    cluster_name_prefix: (
        Annotated[str, StringConstraints(pattern=r"^([a-z0-9][-a-z0-9.]*)?$", max_length=200)]
        | None
    ) = Field(
        None,
        description="Prefix of Argo CD cluster names, <prefix><group>-<name>; a fixed prefix "
        "lets AppProjects and respectRBAC select them. Default: the input's, else "
        "controlplane-.",
    )
    labels: Labels = Field(
        default_factory=dict,
        description="Labels on every cluster Secret.",
        json_schema_extra=NO_SECRET_TYPE_LABEL,
    )
    token_secret_ref: SecretKeyRef | None = Field(
        None,
        description="Secret holding the Upbound token for Argo CD's `up org token` exec "
        "provider. Default: the input's, else crossplane-system/upbound-credentials, key "
        "token.",
        json_schema_extra=space_types("Cloud", "Connected"),
    )


class Team(Model):
    """An Upbound team."""

    name: DnsLabel = Field(description="The team's name in the organization.")
    description: str = Field(
        "", description="Informational only: provider-upbound's Team has no description field."
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


class Permission(Model):
    """A team's permission on a repository."""

    team: DnsLabel = Field(description="A team in spec.iam.teams.")
    permission: RepositoryPermission = Field(
        description="admin, write, read or view, as Upbound repository permissions."
    )


class Repository(Model):
    """An Upbound repository and the teams' permissions on it."""

    name: DnsLabel = Field(description="The repository's name in the organization.")
    public: bool = Field(False, description="Anyone may pull from a public repository.")
    publish: bool = Field(
        False, description="List the repository's packages in the Upbound Marketplace."
    )
    permissions: list[Permission] = Field(
        default_factory=list,
        description="Teams' permissions on the repository, one entry per team.",
        max_length=MAX_PERMISSIONS,
        json_schema_extra=unique_by("team", "teams in permissions"),
    )


class Iam(Model):
    """Upbound IAM: teams, robots and repositories, composed with provider-upbound."""

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
                    "message": "a control plane whose autoUpgrade.channel is None needs "
                    "crossplane.version (on it or in controlPlaneDefaults.crossplane)",
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


class InputArgo(Model):
    """Composition-level Argo CD defaults."""

    namespace: DnsLabel = Field("argocd", description="Argo CD's namespace.")
    cluster_name_prefix: Annotated[
        str, StringConstraints(pattern=r"^([a-z0-9][-a-z0-9.]*)?$", max_length=200)
    ] = Field("controlplane-", description="Prefix of Argo CD cluster names.")
    token_secret_ref: SecretKeyRef | None = Field(
        None,
        description="Secret holding the Upbound token. Default: "
        "crossplane-system/upbound-credentials, key token.",
    )


class Ttl(Model):
    """How long Crossplane may wait before calling the function again."""

    ready_seconds: int = Field(
        600, ge=1, le=86400, description="Seconds until the next call when nothing waits."
    )
    waiting_seconds: int = Field(
        15, ge=1, le=3600, description="Seconds until the next call while something waits."
    )


class FunctionInput(Model):
    """The function's input in a Composition pipeline step: defaults for every XR."""

    model_config = ConfigDict(extra="ignore")  # apiVersion, kind, metadata

    provider_configs: ProviderConfigs = Field(
        ProviderConfigs(), description="ProviderConfigs, unless an XR names its own."
    )
    argocd: InputArgo = Field(InputArgo(), description="Argo CD settings, unless an XR's own.")
    connection_secret_namespace: DnsLabel = Field(
        "crossplane-system",
        description="Namespace of the Objects' connection secrets for a cluster-scoped XR "
        "(a namespaced XR uses its own namespace).",
    )
    ttl: Ttl = Field(Ttl(), description="How soon Crossplane calls the function again.")


# The status that function/status.py writes. Only the XRD uses these models: Crossplane v2
# prunes status fields that its schema lacks. parse() never reads status.


class ControlPlaneStatus(Model):
    """One control plane: where it is, whether it is ready, how Argo CD knows it."""

    group: str = Field("", description="The control plane's group.")
    name: str = Field("", description="The control plane's name.")
    ready: bool = Field(False, description="Whether its ControlPlane is ready.")
    message: str = Field("", description="Ready, or what it waits for.")
    server: str = Field("", description="Its API URL (Cloud, Connected, or a kubeconfig's).")
    argo_cluster: str = Field("", description="Its Argo CD cluster name, once registered.")


class Summary(Model):
    """Counts of what the environment holds, for `kubectl get` columns."""

    groups: int = Field(0, description="Control plane groups.")
    control_planes: int = Field(0, description="Control planes.")
    control_planes_ready: int = Field(0, description="Control planes that are ready.")
    teams: int = Field(0, description="Teams.")
    robots: int = Field(0, description="Robots.")
    repositories: int = Field(0, description="Repositories.")


class EnvironmentStatus(Model):
    """Control planes and counts, written by the function; Crossplane adds conditions."""

    control_planes: list[ControlPlaneStatus] = Field(
        default_factory=list, description="Every control plane, by group then name."
    )
    summary: Summary = Field(Summary(), description="Counts of what the environment holds.")


# --- The resolved environment that builders read. -------------------------------------------


@dataclass(frozen=True, slots=True)
class ResolvedControlPlane:
    """A control plane with defaults merged in."""

    group: str
    name: str
    path: str  # where it is in the XR, e.g. spec.groups[0].controlPlanes[2]
    crossplane: dict[str, Any]
    protect: bool
    register: bool
    project: str
    labels: dict[str, str]


@dataclass(frozen=True, slots=True)
class ResolvedGroup:
    """A group and its control planes, sorted by name."""

    name: str
    control_planes: tuple[ResolvedControlPlane, ...]
    protect: bool


@dataclass(frozen=True, slots=True)
class ResolvedArgo:
    """Argo CD settings after defaults."""

    enabled: bool
    namespace: str
    cluster_name_prefix: str
    labels: dict[str, str]
    token_secret_ref: SecretKeyRef


@dataclass(frozen=True, slots=True)
class Environment:
    """Everything the builders need, resolved and sorted so output never depends on order."""

    xr_name: str
    xr_namespace: str | None
    organization: str
    space: Space
    provider_config_space: str
    provider_config_argocd: str
    provider_config_upbound: str
    provider_config_kind: str
    connection_secret_namespace: str
    default_protect: bool
    groups: tuple[ResolvedGroup, ...]
    argocd: ResolvedArgo
    teams: tuple[Team, ...]
    robots: tuple[Robot, ...]
    repositories: tuple[Repository, ...]
    ttl: Ttl

    @property
    def uses_token(self) -> bool:
        """Whether Argo CD's exec provider needs the Upbound token (Cloud, Connected)."""
        if not self.argocd.enabled or self.space.type == "Disconnected":
            return False
        return any(cp.register for cp in self.control_planes())

    def control_planes(self) -> Iterator[ResolvedControlPlane]:
        """Every control plane, by group then name."""
        for group in self.groups:
            yield from group.control_planes

    def argo_cluster_name(self, cp: ResolvedControlPlane) -> str:
        """The Argo CD cluster (and Secret) name of a control plane: prefix + group + name."""
        return f"{self.argocd.cluster_name_prefix}{cp.group}-{cp.name}"


class SpecError(Exception):
    """The XR or the input is invalid; `problems` holds one `path: message` per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse(xr: Mapping[str, Any], function_input: Mapping[str, Any] | None) -> Environment:
    """Validate the XR and the input and resolve them into an Environment.

    Args:
        xr: The observed composite resource, as a dict.
        function_input: The pipeline step's input, as a dict, or None.

    Returns:
        The resolved environment.

    Raises:
        SpecError: listing every problem found, each with its field path.
    """
    problems: list[str] = []
    inp = _validate(FunctionInput, function_input or {}, "input", problems)
    raw_spec = xr.get("spec")
    if not isinstance(raw_spec, Mapping):
        problems.append("spec: required; an UpboundEnvironment needs organization and space")
        raw_spec = {}
    spec = _validate(EnvironmentSpec, raw_spec, "spec", problems)
    problems.extend(_cross_field_problems(raw_spec))
    if spec is not None and inp is not None:
        env = _resolve(xr, spec, inp)
        problems.extend(_resolved_problems(env))
    if problems:
        raise SpecError(list(dict.fromkeys(problems)))
    return env


M = TypeVar("M", bound=Model)


def _validate(model: type[M], data: Any, root: str, problems: list[str]) -> M | None:
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as e:
        problems.extend(_describe(root, err) for err in e.errors(include_url=False))
        return None


def _describe(root: str, err: Any) -> str:
    path = root + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
    message = err["msg"]
    if err["type"] == "string_pattern_mismatch":
        message = PATTERN_HINTS.get(err["ctx"]["pattern"], message)
    elif err["type"] == "extra_forbidden":
        message = "unknown field; check its spelling against the XRD"
    elif err["type"] == "missing":
        message = "required"
    elif err["type"] == "too_long":
        limit = err["ctx"]["max_length"]
        message = f"lists more than {limit} entries; split them across several UpboundEnvironments"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    return f"{path}: {message}"


PATTERN_HINTS = {
    DNS_LABEL: "must be a DNS-1123 label: lowercase letters, digits and '-', "
    "starting and ending with a letter or digit",
    DNS_SUBDOMAIN: "must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.'",
    LABEL_KEY: "must be a Kubernetes label key such as example.com/team",
    LABEL_VALUE: "must be a Kubernetes label value: up to 63 letters, digits, '-', '_', '.'",
    r"^[0-9][0-9A-Za-z.+-]*$": "must be a Crossplane version such as 1.20.1-up.1, "
    "without a leading 'v'",
}


def _items(value: Any) -> list[tuple[int, Mapping[str, Any]]]:
    """The (index, mapping) pairs of a raw list, skipping malformed entries."""
    if not isinstance(value, list):
        return []
    return [(i, v) for i, v in enumerate(value) if isinstance(v, Mapping)]


def _duplicates(path: str, names: Iterable[tuple[int, Any]], what: str) -> list[str]:
    """Problems for names that repeat in a raw list of (index, name)."""
    pairs = [(i, n) for i, n in names if isinstance(n, str)]
    counts = Counter(n for _, n in pairs)
    return [
        f"{path}[{i}].name: duplicate {what} {n!r}; names must be unique"
        for i, n in pairs
        if counts[n] > 1
    ]


def _cross_field_problems(spec: Mapping[str, Any]) -> list[str]:
    """Uniqueness and references, checked on the raw spec so they show up with shape errors."""
    problems: list[str] = []
    groups = _items(spec.get("groups"))
    problems += _duplicates("spec.groups", ((i, g.get("name")) for i, g in groups), "group")
    for gi, group in groups:
        cps = _items(group.get("controlPlanes"))
        names = ((i, cp.get("name")) for i, cp in cps)
        problems += _duplicates(f"spec.groups[{gi}].controlPlanes", names, "control plane")

    iam: Mapping[str, Any] = spec["iam"] if isinstance(spec.get("iam"), Mapping) else {}
    teams = _items(iam.get("teams"))
    robots = _items(iam.get("robots"))
    repositories = _items(iam.get("repositories"))
    problems += _duplicates("spec.iam.teams", ((i, t.get("name")) for i, t in teams), "team")
    problems += _duplicates("spec.iam.robots", ((i, r.get("name")) for i, r in robots), "robot")
    problems += _duplicates(
        "spec.iam.repositories", ((i, r.get("name")) for i, r in repositories), "repository"
    )
    # Only well-typed names: a list or a mapping as a name is a shape problem, reported above.
    known = {t["name"] for _, t in teams if isinstance(t.get("name"), str)}
    for ri, robot in robots:
        member_of = robot.get("teams")
        for ti, team in enumerate(member_of if isinstance(member_of, list) else []):
            path = f"spec.iam.robots[{ri}].teams[{ti}]"
            if isinstance(team, str) and team not in known:
                problems.append(f"{path}: unknown team {team!r}; add it to spec.iam.teams")
        if isinstance(member_of, list) and len(set(map(str, member_of))) < len(member_of):
            problems.append(f"spec.iam.robots[{ri}].teams: lists a team more than once")
    for ri, repository in repositories:
        grants = _items(repository.get("permissions"))
        for pi, grant in grants:
            team = grant.get("team")
            if isinstance(team, str) and team not in known:
                path = f"spec.iam.repositories[{ri}].permissions[{pi}].team"
                problems.append(f"{path}: unknown team {team!r}; add it to spec.iam.teams")
        granted = [g.get("team") for _, g in grants]
        if len(set(map(str, granted))) < len(granted):
            path = f"spec.iam.repositories[{ri}].permissions"
            problems.append(f"{path}: grants a team more than once; give each team one entry")
    return problems


def _merge_crossplane(default: Crossplane, override: Crossplane) -> dict[str, Any]:
    """The ControlPlane's spec.crossplane: the control plane's settings over the defaults."""
    merged: dict[str, Any] = {}
    version = override.version or default.version
    if version:
        merged["version"] = version
    channel = (override.auto_upgrade and override.auto_upgrade.channel) or (
        default.auto_upgrade and default.auto_upgrade.channel
    )
    merged["autoUpgrade"] = {"channel": channel or "Stable"}
    state = override.state or default.state
    if state:
        merged["state"] = state
    return merged


def _resolve(xr: Mapping[str, Any], spec: EnvironmentSpec, inp: FunctionInput) -> Environment:
    metadata = xr.get("metadata") or {}
    defaults = spec.control_plane_defaults
    groups = []
    for gi, group in sorted(enumerate(spec.groups), key=lambda ig: ig[1].name):
        cps = tuple(
            ResolvedControlPlane(
                group=group.name,
                name=cp.name,
                path=f"spec.groups[{gi}].controlPlanes[{ci}]",
                crossplane=_merge_crossplane(defaults.crossplane, cp.crossplane),
                protect=defaults.protect if cp.protect is None else cp.protect,
                register=cp.argocd.register_,
                project=cp.argocd.project,
                labels=dict(sorted(cp.argocd.labels.items())),
            )
            for ci, cp in sorted(enumerate(group.control_planes), key=lambda ic: ic[1].name)
        )
        # Deleting a group's namespace deletes every control plane in it.
        protect = defaults.protect or any(cp.protect for cp in cps)
        groups.append(ResolvedGroup(name=group.name, control_planes=cps, protect=protect))

    def pick(name: str) -> str:
        chosen = getattr(spec.provider_configs, name) or getattr(inp.provider_configs, name)
        return str(chosen or DEFAULT_PROVIDER_CONFIGS[name])

    token_ref = spec.argocd.token_secret_ref or inp.argocd.token_secret_ref
    return Environment(
        xr_name=str(metadata.get("name") or "upbound-environment"),
        xr_namespace=metadata.get("namespace") or None,
        organization=spec.organization,
        space=spec.space,
        provider_config_space=pick("space"),
        provider_config_argocd=pick("argocd"),
        provider_config_upbound=pick("upbound"),
        provider_config_kind=(
            spec.provider_configs.kind or inp.provider_configs.kind or "ClusterProviderConfig"
        ),
        connection_secret_namespace=inp.connection_secret_namespace,
        default_protect=defaults.protect,
        groups=tuple(groups),
        argocd=ResolvedArgo(
            enabled=spec.argocd.enabled,
            namespace=spec.argocd.namespace or inp.argocd.namespace,
            cluster_name_prefix=(
                inp.argocd.cluster_name_prefix
                if spec.argocd.cluster_name_prefix is None
                else spec.argocd.cluster_name_prefix
            ),
            labels=dict(sorted(spec.argocd.labels.items())),
            token_secret_ref=token_ref or SecretKeyRef.model_validate(DEFAULT_TOKEN_SECRET_REF),
        ),
        teams=tuple(sorted(spec.iam.teams, key=lambda t: t.name)),
        robots=tuple(sorted(spec.iam.robots, key=lambda r: r.name)),
        repositories=tuple(sorted(spec.iam.repositories, key=lambda r: r.name)),
        ttl=inp.ttl,
    )


def _resolved_problems(env: Environment) -> list[str]:
    """Rules that need defaults merged in, and rules across the whole environment."""
    problems: list[str] = []
    space = env.space
    if space.type == "Cloud" and not space.name:
        problems.append("spec.space.name: required for Cloud spaces, e.g. upbound-gcp-us-west-1")
    if space.type == "Connected" and not space.host:
        problems.append(
            "spec.space.host: required for Connected spaces: the ingress host that "
            "`up ctx` prints for the Space"
        )
    for cp in env.control_planes():
        if cp.crossplane["autoUpgrade"]["channel"] == "None" and "version" not in cp.crossplane:
            problems.append(
                f"{cp.path}.crossplane.version: required when autoUpgrade.channel is None "
                "(set it here or in spec.controlPlaneDefaults.crossplane.version)"
            )
    if env.argocd.enabled:
        problems.extend(_argo_problems(env))
    return problems


def _argo_problems(env: Environment) -> list[str]:
    problems: list[str] = []
    names = Counter(env.argo_cluster_name(cp) for cp in env.control_planes() if cp.register)
    for cp in env.control_planes():
        name = env.argo_cluster_name(cp)
        where = cp.path
        if cp.register and names[name] > 1:
            problems.append(
                f"{where}: Argo CD cluster name {name!r} is also produced by another "
                "group/control plane pair; rename one of them"
            )
        if len(name) > 253:
            problems.append(f"{where}: Argo CD cluster name {name!r} is longer than 253")
        if ARGO_SECRET_TYPE_LABEL in cp.labels:
            problems.append(f"{where}.argocd.labels: must not set {ARGO_SECRET_TYPE_LABEL}")
    if ARGO_SECRET_TYPE_LABEL in env.argocd.labels:
        problems.append(f"spec.argocd.labels: must not set {ARGO_SECRET_TYPE_LABEL}")
    return problems
