"""From a valid XR and function input to the one resolved `Environment` that builders read.

`parse` is the one entry (function/fn.py, through function/reuse.py): it validates (function/
validate.py), resolves, and either returns an `Environment` or raises `SpecError` listing
every problem with its field path. Nothing is composed from a spec that has a problem, so a
typo never makes Crossplane delete what a valid spec composed before.

Precedence of every setting, as layers: built-in defaults < function input (Composition) <
the XR's spec. `first_set` picks from them; a new setting or credentials mode adds a layer
or an argument there, not a chain of `or`.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from function.api.controlplanegroup import ControlPlaneGroupSpec
from function.api.environment import (
    Access,
    Argo,
    ControlPlane,
    ControlPlaneDefaults,
    Crossplane,
    EnvironmentSpec,
    Group,
    Repository,
    Robot,
    Sharding,
    Space,
    Team,
)
from function.api.input import FunctionInput, Ttl
from function.api.types import DEFAULT_UPBOUND_DOMAIN, DnsLabel, Model, SecretKeyRef
from function.naming import ARGO_SECRET_HASH_LENGTH, argo_cluster_name
from function.validate import (
    SpecError,
    argo_problems,
    channel_problems,
    cross_field_problems,
    group_spec_problems,
    items,
    release_problems,
    resolved_problems,
    robot_token_problems,
    space_problems,
    token_secret_problems,
    validate_model,
)

__all__ = [  # SpecError too: it is what parse raises.
    "DEFAULT_CHANNEL",
    "DEFAULT_CREDENTIALS",
    "DEFAULT_PROVIDER_CONFIGS",
    "DEFAULT_PROVIDER_CONFIG_KIND",
    "DEFAULT_TOKEN_SECRET_REF",
    "ENVIRONMENT_KIND",
    "GROUP_KIND",
    "Environment",
    "ResolvedArgo",
    "ResolvedControlPlane",
    "ResolvedGroup",
    "SpecError",
    "first_set",
    "parse",
]

# The built-in layer: what a setting is when neither the XR nor the function input sets it.
DEFAULT_PROVIDER_CONFIGS = {"space": "upbound-space", "argocd": "argocd", "upbound": "default"}
DEFAULT_PROVIDER_CONFIG_KIND = "ClusterProviderConfig"
# The token Secret of ClusterSecret mode; a namespaced XR's is in its own namespace.
DEFAULT_TOKEN_SECRET_REF = {"name": "upbound-credentials", "namespace": "crossplane-system"}
DEFAULT_CHANNEL = "Stable"
DEFAULT_CREDENTIALS = "Environment"
# The XR kinds the function composes; an XR of another kind is read as an UpboundEnvironment.
ENVIRONMENT_KIND = "UpboundEnvironment"
GROUP_KIND = "ControlPlaneGroup"

T = TypeVar("T")
M = TypeVar("M", bound=Model)


def first_set(*layers: T | None, default: T) -> T:
    """The value of the most specific layer that sets it, else `default`.

    Args:
        layers: The setting's value in each layer, most specific first (the XR, then the
            function input). Only None falls through: "" or False is a choice.
        default: The built-in value.

    Returns:
        The setting's value.
    """
    for value in layers:
        if value is not None:
            return value
    return default


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
    path: str  # where it is in the XR, e.g. spec.groups[0]
    control_planes: tuple[ResolvedControlPlane, ...]
    protect: bool
    # `protect: false` on the entry: the user lets go of what the group held (orphaned
    # protected control planes included); see function/compose/groups.py.
    released: bool
    source: Group  # as the spec wrote it: what a ControlPlaneGroup of it carries
    access: tuple[Access, ...] = ()  # sorted by team
    # The protected control planes a ControlPlaneGroup's spec says the group held before it
    # came to it (spec.heldProtected): its record carried across the move.
    carried: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ResolvedArgo:
    """Argo CD settings after defaults."""

    enabled: bool
    namespace: str
    cluster_name_prefix: str
    labels: dict[str, str]
    credentials: str  # Environment or ClusterSecret
    upbound_domain: str
    token_secret_ref: SecretKeyRef  # its namespace resolved; read in ClusterSecret mode only


@dataclass(frozen=True, slots=True)
class Environment:
    """Everything the builders need, resolved and sorted so output never depends on order.

    An UpboundEnvironment and a ControlPlaneGroup both resolve to one: a group's holds its
    one group and no IAM, and `xr_name` is its environment's, so the builders compose (and
    name) exactly what the environment composes for that group.
    """

    xr_kind: str  # ENVIRONMENT_KIND or GROUP_KIND
    xr_name: str  # the UpboundEnvironment's name, which composed resources are named after
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
    control_plane_defaults: ControlPlaneDefaults
    sharding: Sharding = "Disabled"  # an UpboundEnvironment's spec.sharding
    # The token Secret as the XR's spec names it (None: the input's or the default), which a
    # ControlPlaneGroup's spec repeats so that the same rules apply to it.
    xr_token_secret_ref: SecretKeyRef | None = None
    release: bool = False  # a ControlPlaneGroup's spec.release
    # A Connected Space's (host, base64 CA) as the environment discovered them: a
    # ControlPlaneGroup's spec.ingress; None for an environment, which discovers them itself.
    ingress: tuple[str, str] | None = None
    iam_protect: bool = True
    # A ControlPlaneGroup's spec.teamIds: the team IDs its environment resolved; None for
    # an environment, which reads them from its observed Teams.
    team_ids: Mapping[str, str] | None = None

    def protects(self, entry: Team | Robot | Repository) -> bool:
        """Whether an IAM entry is protected: its own `protect`, else spec.iam.protect."""
        return first_set(entry.protect, default=self.iam_protect)

    @property
    def uses_token(self) -> bool:
        """Whether the function reads the Upbound token (ClusterSecret; Cloud, Connected)."""
        argocd = self.argocd
        if not argocd.enabled or argocd.credentials != "ClusterSecret":
            return False
        if self.space.type == "Disconnected":
            return False
        return any(cp.register for cp in self.control_planes())

    def control_planes(self) -> Iterator[ResolvedControlPlane]:
        """Every control plane, by group then name."""
        for group in self.groups:
            yield from group.control_planes

    def argo_cluster_name(self, cp: ResolvedControlPlane) -> str:
        """The Argo CD cluster name of a control plane (its display name): prefix-group-name."""
        return argo_cluster_name(self.argocd.cluster_name_prefix, cp.group, cp.name)

    def argo_secret_name(self, cp: ResolvedControlPlane) -> str:
        """The metadata.name of a control plane's Argo CD cluster Secret.

        The cluster name and a hash of organization, Space, group and control plane: two
        environments that share an Argo CD never write the same Secret. The Space is its
        name, else its host, as the spec gives them (never discovered values), so the name
        does not change once composed.
        """
        space = self.space.name or self.space.host or self.space.type
        identity = f"{self.organization}/{space}/{cp.group}/{cp.name}"
        digest = hashlib.sha256(identity.encode()).hexdigest()[:ARGO_SECRET_HASH_LENGTH]
        return f"{self.argo_cluster_name(cp)}-{digest}"


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
    inp = validate_model(FunctionInput, function_input or {}, "input", problems)
    raw_spec = xr.get("spec")
    is_group = xr.get("kind") == GROUP_KIND
    if not isinstance(raw_spec, Mapping):
        needs = (
            "environment, organization, space and group" if is_group else "organization and space"
        )
        problems.append(f"spec: required; a {xr.get('kind') or ENVIRONMENT_KIND} needs {needs}")
        raw_spec = {}
    env: Environment | None = None
    spec: EnvironmentSpec | None
    if is_group:
        group_spec = validate_model(ControlPlaneGroupSpec, raw_spec, "spec", problems)
        problems.extend(group_spec_problems(raw_spec))
        spec = _environment_spec(group_spec) if group_spec is not None else None
        if group_spec is not None and spec is not None and inp is not None:
            env = _resolve_group(xr, group_spec, spec, inp)
    else:
        spec = validate_model(EnvironmentSpec, raw_spec, "spec", problems)
        problems.extend(cross_field_problems(raw_spec))
        metadata = xr.get("metadata")
        xr_namespace = metadata.get("namespace") if isinstance(metadata, Mapping) else None
        problems.extend(robot_token_problems(raw_spec, xr_namespace or None))
        if spec is not None and inp is not None:
            env = _resolve(xr, spec, inp)
    if env is not None and spec is not None and inp is not None:
        problems.extend(resolved_problems(env))
        problems.extend(token_secret_problems(spec, inp, env))
    elif not is_group:
        problems.extend(_partial_problems(raw_spec, inp))
    if problems or env is None:
        raise SpecError(list(dict.fromkeys(problems)))
    return env


def _partial_problems(raw: Mapping[str, Any], inp: FunctionInput | None) -> list[str]:
    """The resolved checks over the parts of an invalid spec (or input) that parse alone.

    So that one Fatal lists every problem: a bad group name does not hide a Cloud Space
    without a name, or a control plane on channel None without a version. Argo CD names are
    checked among the control planes whose own and group's names parse.
    """
    problems: list[str] = []
    space = _part(Space, raw.get("space"))
    if space is not None:
        problems += space_problems(space)
    defaults = _part(ControlPlaneDefaults, raw.get("controlPlaneDefaults", {}))
    if defaults is None:  # every control plane inherits from them
        return problems
    named: list[ResolvedControlPlane] = []
    for gi, group in items(raw.get("groups")):
        group_name = _part(_GroupName, {"name": group.get("name")})
        protected = []
        for ci, raw_cp in items(group.get("controlPlanes")):
            cp = _part(ControlPlane, raw_cp)
            if cp is None:
                continue
            path = f"spec.groups[{gi}].controlPlanes[{ci}]"
            resolved = _control_plane(group_name.name if group_name else "", path, cp, defaults)
            problems += channel_problems(path, resolved.crossplane)
            protected += [cp.name] if resolved.protect else []
            named += [resolved] if group_name else []
        problems += release_problems(f"spec.groups[{gi}]", group.get("protect") is False, protected)
    argo = _part(Argo, raw.get("argocd", {}))
    if argo is not None and argo.enabled and inp is not None:
        prefix = first_set(argo.cluster_name_prefix, default=inp.argocd.cluster_name_prefix)
        problems += argo_problems(prefix, argo.labels, named)
    return problems


class _GroupName(Model):
    """A group's name alone, to check it apart from the rest of its entry."""

    name: DnsLabel


def _part(model: type[M], data: Any) -> M | None:
    """`data` as `model`, or None if it has a problem (which validate_model reported)."""
    return validate_model(model, data, "", [])


def _control_plane(
    group: str, path: str, cp: ControlPlane, defaults: ControlPlaneDefaults
) -> ResolvedControlPlane:
    """A control plane with the defaults merged in."""
    return ResolvedControlPlane(
        group=group,
        name=cp.name,
        path=path,
        crossplane=_inherit(_inherited(defaults.crossplane), defaults.crossplane, cp.crossplane),
        protect=first_set(cp.protect, default=defaults.protect),
        register=cp.argocd.register_,
        project=cp.argocd.project,
        labels=dict(sorted(cp.argocd.labels.items())),
    )


@functools.lru_cache(maxsize=64)
def _inherited(default: Crossplane) -> dict[str, Any]:
    """What a control plane that sets nothing of its own inherits (copied by `_inherit`)."""
    return _merge_crossplane(default, Crossplane())


def _namespace(xr: Mapping[str, Any]) -> str | None:
    """The XR's namespace, None for a cluster-scoped XR."""
    metadata = xr.get("metadata")
    return (metadata.get("namespace") or None) if isinstance(metadata, Mapping) else None


def _merge_crossplane(default: Crossplane, override: Crossplane) -> dict[str, Any]:
    """The ControlPlane's spec.crossplane: the control plane's settings over the defaults.

    Per control plane: `_inherit` answers for one that sets nothing of its own.
    """
    merged: dict[str, Any] = {}
    version = first_set(override.version, default.version, default=None)
    if version:
        merged["version"] = version
    channel = first_set(_channel(override), _channel(default), default=DEFAULT_CHANNEL)
    merged["autoUpgrade"] = {"channel": channel}
    state = first_set(override.state, default.state, default=None)
    if state:
        merged["state"] = state
    return merged


def _inherit(
    inherited: dict[str, Any], default: Crossplane, override: Crossplane
) -> dict[str, Any]:
    """`_merge_crossplane`, faster for a control plane that sets nothing: a copy of `inherited`."""
    if override.model_fields_set:
        return _merge_crossplane(default, override)
    return {**inherited, "autoUpgrade": dict(inherited["autoUpgrade"])}


def _channel(crossplane: Crossplane) -> str | None:
    """The auto-upgrade channel that a Crossplane block sets, if any."""
    return crossplane.auto_upgrade.channel if crossplane.auto_upgrade else None


def _token_secret_ref(
    spec: EnvironmentSpec, inp: FunctionInput, xr_namespace: str | None
) -> SecretKeyRef:
    """The token Secret: the XR's, else the input's, else the default; namespace filled in.

    An omitted namespace is the XR's own (a cluster-scoped XR's: crossplane-system). Which
    namespaces an XR may name is function/credentials.py's rule, checked in validate.py.
    """
    ref = first_set(
        spec.argocd.token_secret_ref,
        inp.argocd.token_secret_ref,
        default=SecretKeyRef(name=DEFAULT_TOKEN_SECRET_REF["name"]),
    )
    if ref.namespace is not None:
        return ref
    namespace = xr_namespace or DEFAULT_TOKEN_SECRET_REF["namespace"]
    return ref.model_copy(update={"namespace": namespace})


def _resolve_groups(
    defaults: ControlPlaneDefaults, groups: Mapping[str, Group]
) -> tuple[ResolvedGroup, ...]:
    """The groups (by their path in the spec) with defaults merged in, sorted by name."""
    resolved = []
    for path, group in sorted(groups.items(), key=lambda pg: pg[1].name):
        cps = tuple(
            _control_plane(group.name, f"{path}.controlPlanes[{ci}]", cp, defaults)
            for ci, cp in sorted(enumerate(group.control_planes), key=lambda ic: ic[1].name)
        )
        # Deleting a group's namespace deletes every control plane in it.
        protect = first_set(
            group.protect, default=defaults.protect or any(cp.protect for cp in cps)
        )
        resolved.append(
            ResolvedGroup(
                name=group.name,
                path=path,
                control_planes=cps,
                protect=protect,
                released=group.protect is False,
                source=group,
                access=tuple(sorted(group.access, key=lambda a: a.team)),
            )
        )
    return tuple(resolved)


def _environment_spec(spec: ControlPlaneGroupSpec) -> EnvironmentSpec:
    """A ControlPlaneGroup's settings as its environment's spec (no groups, no IAM).

    Resolved, and checked (the token Secret's rules), exactly as the environment's are.
    """
    return EnvironmentSpec(
        organization=spec.organization,
        space=spec.space,
        provider_configs=spec.provider_configs,
        control_plane_defaults=spec.control_plane_defaults,
        argocd=spec.argocd,
    )


def _resolve_group(
    xr: Mapping[str, Any],
    spec: ControlPlaneGroupSpec,
    settings: EnvironmentSpec,
    inp: FunctionInput,
) -> Environment:
    """The Environment of a ControlPlaneGroup: its environment's settings and its one group."""
    env = _resolve(xr, settings, inp)
    groups = tuple(
        replace(g, carried=frozenset(spec.held_protected))
        for g in _resolve_groups(spec.control_plane_defaults, {"spec.group": spec.group})
    )
    ingress = (spec.ingress.host, spec.ingress.ca_bundle) if spec.ingress else None
    return replace(
        env,
        xr_kind=GROUP_KIND,
        xr_name=spec.environment,
        groups=groups,
        release=spec.release,
        ingress=ingress,
        team_ids=dict(spec.team_ids),
    )


def _resolve(xr: Mapping[str, Any], spec: EnvironmentSpec, inp: FunctionInput) -> Environment:
    """The Environment of a valid spec and input: defaults merged in, lists sorted by name."""
    metadata = xr.get("metadata") or {}
    defaults = spec.control_plane_defaults
    groups = _resolve_groups(
        defaults, {f"spec.groups[{gi}]": group for gi, group in enumerate(spec.groups)}
    )

    def provider_config(name: str) -> str:
        xr_value = getattr(spec.provider_configs, name)
        input_value = getattr(inp.provider_configs, name)
        return str(first_set(xr_value, input_value, default=DEFAULT_PROVIDER_CONFIGS[name]))

    return Environment(
        xr_kind=ENVIRONMENT_KIND,
        xr_name=str(metadata.get("name") or "upbound-environment"),
        xr_namespace=metadata.get("namespace") or None,
        organization=spec.organization,
        space=spec.space,
        provider_config_space=provider_config("space"),
        provider_config_argocd=provider_config("argocd"),
        provider_config_upbound=provider_config("upbound"),
        provider_config_kind=first_set(
            spec.provider_configs.kind,
            inp.provider_configs.kind,
            default=DEFAULT_PROVIDER_CONFIG_KIND,
        ),
        connection_secret_namespace=inp.connection_secret_namespace,
        default_protect=defaults.protect,
        groups=groups,
        argocd=ResolvedArgo(
            enabled=spec.argocd.enabled,
            namespace=first_set(spec.argocd.namespace, default=inp.argocd.namespace),
            cluster_name_prefix=first_set(
                spec.argocd.cluster_name_prefix, default=inp.argocd.cluster_name_prefix
            ),
            labels=dict(sorted(spec.argocd.labels.items())),
            credentials=first_set(
                spec.argocd.credentials, inp.argocd.credentials, default=DEFAULT_CREDENTIALS
            ),
            upbound_domain=first_set(
                spec.argocd.upbound_domain,
                inp.argocd.upbound_domain,
                default=DEFAULT_UPBOUND_DOMAIN,
            ),
            token_secret_ref=_token_secret_ref(spec, inp, metadata.get("namespace") or None),
        ),
        teams=tuple(sorted(spec.iam.teams, key=lambda t: t.name)),
        robots=tuple(sorted(spec.iam.robots, key=lambda r: r.name)),
        repositories=tuple(sorted(spec.iam.repositories, key=lambda r: r.name)),
        ttl=inp.ttl,
        control_plane_defaults=defaults,
        sharding=spec.sharding,
        xr_token_secret_ref=spec.argocd.token_secret_ref,
        iam_protect=spec.iam.protect,
    )
