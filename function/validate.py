"""Checks beyond one field's type, and pydantic's errors as `path: message` problems.

Every check returns problems rather than raising, so that `function.resolve.parse` can name
every problem of a spec in one Fatal result. Three kinds of check, in the order parse runs
them: the models' own (`validate_model`), rules across the raw spec that must show up
beside shape errors (`cross_field_problems`), and rules that need defaults merged in
(`resolved_problems`). A new rule goes in the kind it needs; a new XR kind adds its own
`*_problems` functions here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import pydantic

from function import credentials
from function.api.types import (
    ARGO_SECRET_TYPE_LABEL,
    CLUSTER_NAME_PREFIX,
    DNS_LABEL,
    DNS_SUBDOMAIN,
    LABEL_KEY,
    LABEL_VALUE,
    UPBOUND_ID,
    UUID,
    Model,
)
from function.naming import ARGO_SECRET_HASH_LENGTH, argo_cluster_name

if TYPE_CHECKING:
    from function.api.environment import EnvironmentSpec, Space
    from function.api.input import FunctionInput
    from function.resolve import Environment, ResolvedControlPlane


class SpecError(Exception):
    """The XR or the input is invalid; `problems` holds one `path: message` per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


M = TypeVar("M", bound=Model)


def validate_model(model: type[M], data: Any, root: str, problems: list[str]) -> M | None:
    """The model of `data`, or None after adding each pydantic error to `problems`.

    Args:
        model: The API model, e.g. EnvironmentSpec.
        data: The raw value, as a dict.
        root: The path that problems start with, e.g. `spec` or `input`.
        problems: Where each problem goes, as `path: message`.

    Returns:
        The validated model, or None if `data` has a problem.
    """
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as e:
        problems.extend(describe(root, err) for err in e.errors(include_url=False))
        return None


def describe(root: str, err: Any) -> str:
    """One pydantic error as `path: message`, with a hint where the pattern has one."""
    path = root + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
    message = err["msg"]
    if err["type"] == "string_pattern_mismatch":
        message = PATTERN_HINTS.get(err["ctx"]["pattern"], message)
    elif err["type"] == "extra_forbidden":
        message = "unknown field; check its spelling against the XRD"
    elif err["type"] == "bool_type":
        message = "must be true or false, unquoted (the XRD's type is boolean)"
    elif err["type"] == "int_type":
        message = "must be a whole number, unquoted (the XRD's type is integer)"
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
    CLUSTER_NAME_PREFIX: "must start the DNS-1123 subdomains <prefix><group>-<name>: "
    "lowercase letters, digits, '-' and '.', no '.' next to '.' or '-', e.g. controlplane- "
    "or prod.",
    r"^[0-9][0-9A-Za-z.+-]*$": "must be a Crossplane version such as 1.20.1-up.1, "
    "without a leading 'v'",
    UPBOUND_ID: "must be an Upbound ID as `up team list` prints it: letters, digits and "
    "single inner dashes",
    UUID: "must be a robot's ID, a UUID as `up robot list` prints it",
}


def items(value: Any) -> list[tuple[int, Mapping[str, Any]]]:
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


def cross_field_problems(spec: Mapping[str, Any]) -> list[str]:
    """Uniqueness and references, checked on the raw spec so they show up with shape errors."""
    problems: list[str] = []
    groups = items(spec.get("groups"))
    problems += _duplicates("spec.groups", ((i, g.get("name")) for i, g in groups), "group")
    for gi, group in groups:
        cps = items(group.get("controlPlanes"))
        names = ((i, cp.get("name")) for i, cp in cps)
        problems += _duplicates(f"spec.groups[{gi}].controlPlanes", names, "control plane")

    iam: Mapping[str, Any] = spec["iam"] if isinstance(spec.get("iam"), Mapping) else {}
    teams = items(iam.get("teams"))
    robots = items(iam.get("robots"))
    repositories = items(iam.get("repositories"))
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
        problems += _team_entries(
            f"spec.iam.repositories[{ri}].permissions",
            items(repository.get("permissions")),
            known,
            "grants a team more than once; give each team one entry",
        )
    for gi, group in groups:
        problems += _team_entries(
            f"spec.groups[{gi}].access",
            items(group.get("access")),
            known,
            "names a team more than once; give each team one role",
        )
    problems += _token_name_problems(robots)
    return problems


def _team_entries(
    path: str, entries: list[tuple[int, Mapping[str, Any]]], known: set[str], repeated: str
) -> list[str]:
    """Entries that name a team (permissions, access): each a known team, each team once."""
    problems: list[str] = []
    for i, entry in entries:
        team = entry.get("team")
        if isinstance(team, str) and team not in known:
            problems.append(f"{path}[{i}].team: unknown team {team!r}; add it to spec.iam.teams")
    teams = [str(e.get("team")) for _, e in entries]
    if len(set(teams)) < len(teams):
        problems.append(f"{path}: {repeated}")
    return problems


def _token_name_problems(robots: list[tuple[int, Mapping[str, Any]]]) -> list[str]:
    """Token names are unique per robot."""
    problems: list[str] = []
    for ri, robot in robots:
        tokens = items(robot.get("tokens"))
        names = ((i, t.get("name")) for i, t in tokens)
        problems += _duplicates(f"spec.iam.robots[{ri}].tokens", names, "token")
    return problems


def group_spec_problems(spec: Mapping[str, Any]) -> list[str]:
    """A ControlPlaneGroup's raw spec: its control planes' names are unique.

    Its token Secret is checked as an UpboundEnvironment's is (`token_secret_problems`): a
    tenant who may write ControlPlaneGroups in a namespace must not reach a Secret outside it.
    """
    group = spec.get("group")
    cps = items(group.get("controlPlanes") if isinstance(group, Mapping) else None)
    names = ((i, cp.get("name")) for i, cp in cps)
    return _duplicates("spec.group.controlPlanes", names, "control plane")


def resolved_problems(env: Environment) -> list[str]:
    """Rules that need defaults merged in, and rules across the whole environment."""
    problems = space_problems(env.space)
    for group in env.groups:
        kept = [cp.name for cp in group.control_planes if cp.protect]
        problems += release_problems(group.path, group.released, kept)
    for cp in env.control_planes():
        problems += channel_problems(cp.path, cp.crossplane)
    if env.argocd.enabled:
        argo = env.argocd
        problems += argo_problems(argo.cluster_name_prefix, argo.labels, env.control_planes())
    return problems


def space_problems(space: Space) -> list[str]:
    """What a Space of its type lacks."""
    if space.type == "Cloud" and not space.name:
        return ["spec.space.name: required for Cloud spaces, e.g. upbound-gcp-us-west-1"]
    return []


def channel_problems(path: str, crossplane: Mapping[str, Any]) -> list[str]:
    """A control plane (at `path`) on channel None needs a version; `crossplane` is merged."""
    if crossplane["autoUpgrade"]["channel"] == "None" and "version" not in crossplane:
        return [
            f"{path}.crossplane.version: required when autoUpgrade.channel is None "
            "(set it here or in spec.controlPlaneDefaults.crossplane.version)"
        ]
    return []


def release_problems(path: str, released: bool, protected: list[str]) -> list[str]:
    """A group (at `path`) released with `protect: false` may not list protected ones."""
    if not released or not protected:
        return []
    return [
        f"{path}.protect: false releases the group, but it holds protected control planes "
        f"{', '.join(protected)}; set protect: false on them too, or unset the group's protect"
    ]


def argo_problems(
    prefix: str, labels: Mapping[str, str], cps: Iterable[ResolvedControlPlane]
) -> list[str]:
    """Argo CD cluster names that collide or are too long, and labels the function owns.

    Args:
        prefix: The resolved argocd.clusterNamePrefix.
        labels: spec.argocd.labels.
        cps: The control planes whose names are known.
    """
    problems: list[str] = []
    cps = list(cps)
    names = Counter(argo_cluster_name(prefix, cp.group, cp.name) for cp in cps if cp.register)
    for cp in cps:
        name = argo_cluster_name(prefix, cp.group, cp.name)
        where = cp.path
        if cp.register and names[name] > 1:
            problems.append(
                f"{where}: Argo CD cluster name {name!r} is also produced by another "
                "group/control plane pair; rename one of them"
            )
        if len(name) + 1 + ARGO_SECRET_HASH_LENGTH > 253:  # Environment.argo_secret_name
            problems.append(
                f"{where}: Argo CD cluster name {name!r} is too long: its cluster Secret's "
                "name, the cluster name and a 9-character suffix, must fit in 253 characters"
            )
        if ARGO_SECRET_TYPE_LABEL in cp.labels:
            problems.append(f"{where}.argocd.labels: must not set {ARGO_SECRET_TYPE_LABEL}")
    if ARGO_SECRET_TYPE_LABEL in labels:
        problems.append(f"spec.argocd.labels: must not set {ARGO_SECRET_TYPE_LABEL}")
    return problems


def token_secret_problems(spec: EnvironmentSpec, inp: FunctionInput, env: Environment) -> list[str]:
    """Where the XR and the input may name the token Secret, and when they may name one.

    A namespaced XR reaches only its own namespace (`credentials.namespace_problem`) and may
    not replace a Secret that the function input names. A tokenSecretRef is read only in
    ClusterSecret mode: one named in Environment mode is a problem rather than silently
    unused, so that an upgrade never quietly takes Argo CD's token away.
    """
    problems: list[str] = []
    xr_ref, input_ref = spec.argocd.token_secret_ref, inp.argocd.token_secret_ref
    path = "spec.argocd.tokenSecretRef"
    cluster_secret = env.argocd.credentials == "ClusterSecret"
    if xr_ref is not None:
        if input_ref is None:
            where = credentials.namespace_problem(
                f"{path}.namespace", xr_ref.namespace, env.xr_namespace
            )
            problems.extend([where] if where else [])
        elif env.xr_namespace is not None and xr_ref != input_ref:
            problems.append(
                f"{path}: the Composition's function input names the token Secret, and a "
                "namespaced UpboundEnvironment may not name another; remove this field"
            )
        if not cluster_secret:
            problems.append(_unused_ref("spec", path))
    input_cluster_secret = inp.argocd.credentials == "ClusterSecret"
    if input_ref is not None and not cluster_secret and not input_cluster_secret:
        problems.append(_unused_ref("input", "input.argocd.tokenSecretRef"))
    return problems


def _unused_ref(layer: str, path: str) -> str:
    return (
        f"{path}: read only with credentials ClusterSecret, and credentials is Environment "
        f"(the default): set {layer}.argocd.credentials: ClusterSecret to keep reading this "
        "Secret, or remove the field and give Argo CD its own UP_TOKEN (docs/credentials.md)"
    )


def robot_token_problems(spec: Mapping[str, Any], xr_namespace: str | None) -> list[str]:
    """Robot token Secrets: in namespaces the XR may name, and one token per Secret.

    Args:
        spec: The raw spec.
        xr_namespace: The XR's namespace, None for a cluster-scoped XR.
    """
    problems: list[str] = []
    iam: Mapping[str, Any] = spec["iam"] if isinstance(spec.get("iam"), Mapping) else {}
    writers: dict[tuple[Any, Any], str] = {}
    for ri, robot in items(iam.get("robots")):
        for ti, token in items(robot.get("tokens")):
            ref = token.get("secretRef")
            if not isinstance(ref, Mapping) or not isinstance(ref.get("name"), str):
                continue  # a shape problem, reported by the model
            path = f"spec.iam.robots[{ri}].tokens[{ti}].secretRef"
            namespace = ref.get("namespace") if isinstance(ref.get("namespace"), str) else None
            problem = credentials.namespace_problem(f"{path}.namespace", namespace, xr_namespace)
            if problem:
                problems.append(problem)
            where = (namespace or xr_namespace, ref["name"])
            if where in writers:
                problems.append(
                    f"{path}.name: Secret {ref['name']!r} is also written by "
                    f"{writers[where]}; give each token its own Secret"
                )
            writers.setdefault(where, path)
    return problems
