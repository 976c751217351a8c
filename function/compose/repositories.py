"""Upbound repositories with provider-upbound, and the teams' permissions on them.

A Repository's external name is its name (provider-upbound's Create and Observe use it), so
a repository that exists already is adopted by naming it. Protection (spec.iam.protect or
the entry's `protect`) covers repositories; their permissions follow them
(function/compose/grants.py).

provider-upbound's Permission cannot be updated (its Update does nothing, its Observe only
asks whether the team has a permission on the repository, and its Delete removes the team's
permission by repository and team). So a changed level replaces the Permission, in order:
the old one is deleted (unprotected first if it is protected), and only once it is gone is
the new one created. Creating the new one while the old exists would observe the old grant
as its own and never apply the new level.
"""

from typing import Any

from function.compose import grants
from function.compose.common import Composition, Context, Waiting
from function.compose.iam import EXTERNAL_NAME, team_name_of
from function.naming import resource_name

REPOSITORY = "repository"
REPOSITORY_PERMISSION = "repository-permission"


def repository_name_of(repository: str) -> str:
    """The composition resource name of a repository."""
    return resource_name(REPOSITORY, repository)


def repository_permission_name_of(repository: str, team: str) -> str:
    """The composition resource name of a team's permission on a repository."""
    return resource_name(REPOSITORY_PERMISSION, repository, team)


def build(ctx: Context) -> Composition:
    """Repositories and the teams' permissions on them."""
    env = ctx.env
    api_version, config = ctx.flavour.repository_api_version, env.provider_config_upbound
    out = Composition()
    kept = set()
    for repo in env.repositories:
        repo_name = repository_name_of(repo.name)
        protect = env.protects(repo)
        for_provider: dict[str, Any] = {
            "name": repo.name,
            "organizationName": env.organization,
            "public": repo.public,
            "publish": repo.publish,
        }
        # A Repository's external name is its forProvider.name; keep the two equal.
        annotations = {EXTERNAL_NAME: repo.name}
        out.desired.append(
            ctx.managed(
                repo_name,
                api_version,
                "Repository",
                config,
                for_provider,
                protect=protect,
                annotations=annotations,
            )
        )
        for grant in sorted(repo.permissions, key=lambda p: p.team):
            name = repository_permission_name_of(repo.name, grant.team)
            kept.add(name)
            was = _observed_level(ctx, name)
            if was is not None and was != grant.permission:
                out += _replace(ctx, name, was, grant.permission)
                continue
            permission = {
                "organizationName": env.organization,
                "permission": grant.permission,
                "repositoryRef": ctx.reference(repo_name),
                "teamIdRef": ctx.reference(team_name_of(grant.team)),
            }
            out.desired.append(
                ctx.managed(name, api_version, "Permission", config, permission, protect=protect)
            )
    kept |= {d.name for d in out.desired}
    owners = {repo.name for repo in env.repositories}
    iam_ctx = grants.iam_context(ctx)
    out += iam_ctx.release_removed(REPOSITORY, kept)
    out += grants.release_or_revoke(iam_ctx, REPOSITORY_PERMISSION, kept, owners)
    return out


def _observed_level(ctx: Context, name: str) -> str | None:
    """The level of an observed Permission; None if there is none or it is unreadable."""
    return ctx.observed.string_at(name, "spec", "forProvider", "permission")


def _replace(ctx: Context, name: str, was: str, level: str) -> Composition:
    """One step of replacing a Permission whose level changed: unprotect it, or let it go."""
    why = (
        f"its level changes from {was} to {level}, which provider-upbound cannot update: "
        "deleting the old Permission before creating the new one"
    )
    out = grants.unprotect(ctx, name, why)
    if not out.desired:  # Unprotected: not returning it makes Crossplane delete it.
        out.waiting.append(Waiting(name, why))
    return out
