"""Pure builders: (environment, observed state, token) -> the composed resources.

Builders never touch protobuf. Each module composes one kind of thing and has the same shape:
`KIND` (the prefix of its composition resource names, named once), `name_of(...)` (the name
of one of its resources, which other builders import rather than rebuild) and
`build(ctx: Context) -> Composition`. Ordering between kinds (a ControlPlane after its group,
an Argo CD cluster after its ControlPlane) lives in the builder of the thing that waits,
which asks the observed state about its prerequisite.

Adding a composed kind: one module here, one line in GROUP_BUILDERS (what belongs to one group)
or ENVIRONMENT_BUILDERS (what belongs to the whole environment), the condition that covers
it in function/status.py's CONCERN_OF, and its test.

An UpboundEnvironment may shard: then it composes a ControlPlaneGroup XR per group (shards.py)
and each of those runs the same builders on its one group. No builder knows which it runs in.
"""

from collections.abc import Callable
from dataclasses import replace

from pydantic import SecretStr

from function.compose import (
    access,
    argocd,
    controlplanes,
    groups,
    iam,
    ingress,
    repositories,
    shards,
)
from function.compose.common import Composition, Context
from function.flavour import flavour_of
from function.observed import Observed
from function.resolve import GROUP_KIND, Environment, SpecError

Builder = Callable[[Context], Composition]
# Builders of what belongs to one control plane group: a ControlPlaneGroup runs these.
GROUP_BUILDERS: tuple[Builder, ...] = (
    groups.build,
    controlplanes.build,
    argocd.build,
    access.build,
)
# Builders of what belongs to the whole environment (the Space's ingress, IAM): only an
# UpboundEnvironment runs them, over all its groups, sharded or not.
ENVIRONMENT_BUILDERS: tuple[Builder, ...] = (ingress.build, iam.build, repositories.build)
# Every builder.
BUILDERS = GROUP_BUILDERS + ENVIRONMENT_BUILDERS


def uses_token(env: Environment, observed: Observed) -> bool:
    """Whether what the XR composes itself needs the Upbound token (Argo CD's exec provider)."""
    return replace(env, groups=shards.own_groups(env, observed)).uses_token


def compose(
    env: Environment,
    observed: Observed,
    token: SecretStr | None,
    token_problem: str | None = None,
) -> Composition:
    """Everything the XR composes, given what exists and the Upbound token.

    An UpboundEnvironment runs the group builders on the groups it composes itself and the
    environment builders on all, and composes ControlPlaneGroups for the other groups; a
    ControlPlaneGroup runs the group builders on its group.
    `token_problem`: why the token Secret cannot be used (ClusterSecret mode), if it cannot.

    Raises:
        SpecError: two entries would compose resources of the same name.
    """
    ctx = Context(
        env=env,
        flavour=flavour_of(env),
        observed=observed,
        token=token,
        token_problem=token_problem,
        team_ids=env.team_ids if env.team_ids is not None else iam.team_ids(env, observed),
    )
    if env.xr_kind != GROUP_KIND:
        out = shards.compose_environment(ctx, GROUP_BUILDERS, ENVIRONMENT_BUILDERS)
    else:
        out = Composition()
        for build in GROUP_BUILDERS:
            out += build(ctx)
        out = shards.release(ctx, out) if env.release else out
    problems = same_names(out)
    if problems:
        raise SpecError(problems)
    return out


def same_names(out: Composition) -> list[str]:
    """Pairs of composed resources of one kind that would share a metadata.name.

    Names that read alike (a dash where the other has a dot: group `a-b` with control plane
    `c`, group `a` with `b-c`) differ in a 20-bit digest (function/naming.py); this refuses
    the rare pair whose digests meet too, rather than compose one resource over another.
    """
    seen: dict[tuple[str, ...], str] = {}
    problems = []
    for desired in out.desired:
        metadata = desired.resource.get("metadata")
        if not isinstance(metadata, dict):  # kept as observed, malformed (Context.release_removed)
            continue
        key = tuple(
            str(value)
            for value in (
                desired.resource.get("kind"),
                metadata.get("namespace"),
                metadata.get("name"),
            )
        )
        first = seen.setdefault(key, desired.name)
        if first != desired.name:
            problems.append(
                f"{first} and {desired.name} would both be named {key[2]!r}; rename one of "
                "the entries"
            )
    return problems
