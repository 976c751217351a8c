"""Upbound IAM with provider-upbound: teams, robots and their memberships, repositories.

Resources reference each other by the composed resources' names (`robotIdRef`,
`teamIdRef`, `repositoryRef`), so provider-upbound resolves the IDs Upbound assigns.
IAM composes several kinds; each has its prefix (`TEAM`, `ROBOT`, ...) and a `*_name_of`
helper that other builders import rather than rebuild the name.
"""

from typing import Any

from function.compose.common import Composition, Context, Desired
from function.naming import resource_name

EXTERNAL_NAME = "crossplane.io/external-name"
TEAM = "team"
ROBOT = "robot"
ROBOT_MEMBERSHIP = "robot-membership"
REPOSITORY = "repository"
REPOSITORY_PERMISSION = "repository-permission"


def team_name_of(team: str) -> str:
    """The composition resource name of a team."""
    return resource_name(TEAM, team)


def robot_name_of(robot: str) -> str:
    """The composition resource name of a robot."""
    return resource_name(ROBOT, robot)


def robot_membership_name_of(robot: str, team: str) -> str:
    """The composition resource name of a robot's membership of a team."""
    return resource_name(ROBOT_MEMBERSHIP, robot, team)


def repository_name_of(repository: str) -> str:
    """The composition resource name of a repository."""
    return resource_name(REPOSITORY, repository)


def repository_permission_name_of(repository: str, team: str) -> str:
    """The composition resource name of a team's permission on a repository."""
    return resource_name(REPOSITORY_PERMISSION, repository, team)


def build(ctx: Context) -> Composition:
    """Teams, robots, robot team memberships, repositories and repository permissions."""
    return Composition(desired=[*_teams(ctx), *_robots(ctx), *_repositories(ctx)])


def _iam(ctx: Context, name: str, kind: str, for_provider: dict[str, Any]) -> Desired:
    """An iam.upbound.io resource on the provider-upbound config."""
    api_version = ctx.flavour.iam_api_version
    return ctx.managed(name, api_version, kind, ctx.env.provider_config_upbound, for_provider)


def _teams(ctx: Context) -> list[Desired]:
    organization = ctx.env.organization
    return [
        _iam(
            ctx,
            team_name_of(team.name),
            "Team",
            {"name": team.name, "organizationName": organization},
        )
        for team in ctx.env.teams
    ]


def _robots(ctx: Context) -> list[Desired]:
    env = ctx.env
    out = []
    for robot in env.robots:
        robot_name = robot_name_of(robot.name)
        for_provider = {
            "name": robot.name,
            "description": robot.description or f"Managed by UpboundEnvironment {env.xr_name}",
            "owner": {"name": env.organization},
        }
        out.append(_iam(ctx, robot_name, "Robot", for_provider))
        for team in sorted(robot.teams):
            membership = {
                "robotIdRef": ctx.reference(robot_name),
                "teamIdRef": ctx.reference(team_name_of(team)),
            }
            name = robot_membership_name_of(robot.name, team)
            out.append(_iam(ctx, name, "RobotTeamMembership", membership))
    return out


def _repositories(ctx: Context) -> list[Desired]:
    env = ctx.env
    api_version, config = ctx.flavour.repository_api_version, env.provider_config_upbound
    out = []
    for repo in env.repositories:
        repo_name = repository_name_of(repo.name)
        for_provider: dict[str, Any] = {
            "name": repo.name,
            "organizationName": env.organization,
            "public": repo.public,
            "publish": repo.publish,
        }
        # A Repository's external name is its forProvider.name; keep the two equal.
        annotations = {EXTERNAL_NAME: repo.name}
        out.append(
            ctx.managed(
                repo_name, api_version, "Repository", config, for_provider, annotations=annotations
            )
        )
        for grant in sorted(repo.permissions, key=lambda p: p.team):
            permission = {
                "organizationName": env.organization,
                "permission": grant.permission,
                "repositoryRef": ctx.reference(repo_name),
                "teamIdRef": ctx.reference(team_name_of(grant.team)),
            }
            name = repository_permission_name_of(repo.name, grant.team)
            out.append(ctx.managed(name, api_version, "Permission", config, permission))
    return out
