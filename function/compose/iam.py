"""Upbound IAM with provider-upbound: teams, robots, their team memberships and tokens.

Resources reference each other by the composed resources' names (`robotIdRef`,
`teamIdRef`, `owner.idRef`), so provider-upbound resolves the IDs Upbound assigns, which it
keeps in each resource's `crossplane.io/external-name` annotation. IAM composes several
kinds; each has its prefix (`TEAM`, `ROBOT`, ...) and a `*_name_of` helper that other
builders import rather than rebuild the name. Repositories are in repositories.py.

Protection (spec.iam.protect, or an entry's own `protect`) covers teams and robots; a
robot's memberships and tokens follow the robot (function/compose/grants.py).
"""

import re
from typing import Any

from function.api.types import UPBOUND_ID
from function.compose import grants
from function.compose.common import Composition, Context, Desired
from function.naming import resource_name
from function.observed import Observed
from function.resolve import Environment

EXTERNAL_NAME = "crossplane.io/external-name"
TEAM = "team"
ROBOT = "robot"
ROBOT_MEMBERSHIP = "robot-membership"
ROBOT_TOKEN = "robot-token"  # noqa: S105 - a kind prefix, not a token.


def team_name_of(team: str) -> str:
    """The composition resource name of a team."""
    return resource_name(TEAM, team)


def robot_name_of(robot: str) -> str:
    """The composition resource name of a robot."""
    return resource_name(ROBOT, robot)


def robot_membership_name_of(robot: str, team: str) -> str:
    """The composition resource name of a robot's membership of a team."""
    return resource_name(ROBOT_MEMBERSHIP, robot, team)


def robot_token_name_of(robot: str, token: str) -> str:
    """The composition resource name of a robot's token."""
    return resource_name(ROBOT_TOKEN, robot, token)


def is_team_id(value: str) -> bool:
    """Whether a value can name a team in an ObjectRoleBinding (the CRD's subject name)."""
    return 2 <= len(value) <= 100 and re.fullmatch(UPBOUND_ID, value) is not None


def team_ids(env: Environment, observed: Observed) -> dict[str, str]:
    """The Upbound ID of every team whose ID is known, by team name.

    A team's `externalName` is its ID at once. Otherwise provider-upbound's Team controller
    records the ID Upbound assigns in the Team's external-name annotation when it creates
    the team (it sets no status.atProvider.id). An observed value that cannot be an ID is
    left out, never passed on.
    """
    ids = {}
    for team in env.teams:
        value = team.external_name or observed.annotation(team_name_of(team.name), EXTERNAL_NAME)
        if value and is_team_id(value):
            ids[team.name] = value
    return ids


def build(ctx: Context) -> Composition:
    """Teams, robots, robot team memberships and robot tokens."""
    out = _teams(ctx)
    out += _robots(ctx)
    return out


def _iam(  # noqa: PLR0913 - the parts of one IAM resource.
    ctx: Context,
    name: str,
    kind: str,
    for_provider: dict[str, Any],
    protect: bool,
    *,
    annotations: dict[str, str] | None = None,
    spec: dict[str, Any] | None = None,
) -> Desired:
    """An iam.upbound.io resource on the provider-upbound config."""
    return ctx.managed(
        name,
        ctx.flavour.iam_api_version,
        kind,
        ctx.env.provider_config_upbound,
        for_provider,
        protect=protect,
        annotations=annotations,
        spec=spec,
    )


def external_name(ctx: Context, name: str, given: str | None) -> dict[str, str] | None:
    """The external-name annotation of a team or robot: the adopted ID, else the observed one.

    Carrying the observed ID forward keeps it when an `externalName` is removed from the
    spec: without it, provider-upbound would lose the resource and create another.
    """
    value = given or ctx.observed.annotation(name, EXTERNAL_NAME)
    return {EXTERNAL_NAME: value} if value else None


def _teams(ctx: Context) -> Composition:
    out = Composition()
    for team in ctx.env.teams:
        name = team_name_of(team.name)
        for_provider = {"name": team.name, "organizationName": ctx.env.organization}
        annotations = external_name(ctx, name, team.external_name)
        protect = ctx.env.protects(team)
        out.desired.append(_iam(ctx, name, "Team", for_provider, protect, annotations=annotations))
        if annotations and not is_team_id(annotations[EXTERNAL_NAME]):
            out.warnings.append(
                f"team {team.name}: its Team's {EXTERNAL_NAME} annotation is not an Upbound "
                "team ID; group access that names the team waits (kubectl describe the Team)"
            )
    kept = {d.name for d in out.desired}
    out += grants.iam_context(ctx).release_removed(TEAM, kept)
    return out


def _robots(ctx: Context) -> Composition:
    env = ctx.env
    out = Composition()
    for robot in env.robots:
        robot_name = robot_name_of(robot.name)
        protect = env.protects(robot)
        for_provider = {
            "name": robot.name,
            "description": robot.description or f"Managed by UpboundEnvironment {env.xr_name}",
            "owner": {"name": env.organization},
        }
        annotations = external_name(ctx, robot_name, robot.external_name)
        out.desired.append(
            _iam(ctx, robot_name, "Robot", for_provider, protect, annotations=annotations)
        )
        for team in sorted(robot.teams):
            membership = {
                "robotIdRef": ctx.reference(robot_name),
                "teamIdRef": ctx.reference(team_name_of(team)),
            }
            name = robot_membership_name_of(robot.name, team)
            out.desired.append(_iam(ctx, name, "RobotTeamMembership", membership, protect))
        for token in robot.tokens:
            secret = ctx.flavour.connection_secret_ref(token.secret_ref.name)
            if not ctx.flavour.namespaced and token.secret_ref.namespace:
                secret["namespace"] = token.secret_ref.namespace
            for_provider = {
                "name": token.name,
                "owner": {"type": "robots", "idRef": ctx.reference(robot_name)},
            }
            name = robot_token_name_of(robot.name, token.name)
            spec = {"writeConnectionSecretToRef": secret}
            out.desired.append(_iam(ctx, name, "Token", for_provider, protect, spec=spec))
    kept = {d.name for d in out.desired}
    owners = {robot.name for robot in env.robots}
    iam_ctx = grants.iam_context(ctx)
    out += iam_ctx.release_removed(ROBOT, kept)
    out += grants.release_or_revoke(iam_ctx, ROBOT_MEMBERSHIP, kept, owners)
    out += grants.release_or_revoke(iam_ctx, ROBOT_TOKEN, kept, owners)
    return out
