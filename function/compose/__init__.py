"""Pure builders: (environment, observed state) -> the composed resources.

Builders never touch protobuf. Each module composes one kind of thing; ordering between
kinds (a ControlPlane after its group, an Argo CD cluster after its ControlPlane) lives in
the builder of the thing that waits, which asks the observed state about its prerequisite.
"""

from pydantic import SecretStr

from function.compose import argocd, controlplanes, groups, iam
from function.compose.common import Composition, Context
from function.flavour import flavour_of
from function.observed import Observed
from function.resolve import Environment


def compose(env: Environment, observed: Observed, token: SecretStr | None) -> Composition:
    """Everything the environment composes, given what exists and the Upbound token."""
    ctx = Context(env=env, flavour=flavour_of(env), observed=observed)
    out = groups.build(ctx)
    out += controlplanes.build(ctx)
    out += argocd.build(ctx, token)
    out += iam.build(ctx)
    return out
