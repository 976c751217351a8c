"""Pure builders: (environment, observed state, token) -> the composed resources.

Builders never touch protobuf. Each module composes one kind of thing and has the same shape:
`KIND` (the prefix of its composition resource names, named once), `name_of(...)` (the name
of one of its resources, which other builders import rather than rebuild) and
`build(ctx: Context) -> Composition`. Ordering between kinds (a ControlPlane after its group,
an Argo CD cluster after its ControlPlane) lives in the builder of the thing that waits,
which asks the observed state about its prerequisite.

Adding a composed kind: one module here, one line in BUILDERS, and its test.
"""

from collections.abc import Callable

from pydantic import SecretStr

from function.compose import argocd, controlplanes, groups, iam, ingress
from function.compose.common import Composition, Context
from function.flavour import flavour_of
from function.observed import Observed
from function.resolve import Environment, SpecError

# Every builder, in the order their resources appear in the response.
BUILDERS: tuple[Callable[[Context], Composition], ...] = (
    groups.build,
    controlplanes.build,
    ingress.build,
    argocd.build,
    iam.build,
)


def compose(
    env: Environment,
    observed: Observed,
    token: SecretStr | None,
    token_problem: str | None = None,
) -> Composition:
    """Everything the environment composes, given what exists and the Upbound token.

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
    )
    out = Composition()
    for build in BUILDERS:
        out += build(ctx)
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
