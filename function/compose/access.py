"""Teams' access to groups: an `authorization.spaces.upbound.io` ObjectRoleBinding per group.

One Object on the Space provider config per group with `access` wraps an ObjectRoleBinding in
the group's namespace that binds the namespace to its teams, each by its Upbound ID
(`Context.team_ids`: from the spec's externalName or the observed Team, resolved before the
builders run, so this builder composes one group the same whether it runs for the whole
environment or for one group). A binding waits for its group, and for the ID of every team
it names; one that exists already stays as it is meanwhile.

The binding is protected with its group. Removing a group's last access entry revokes it
(function/compose/grants.py).
"""

from typing import Any

from function.compose import grants, groups
from function.compose.common import Composition, Context, Desired, Waiting
from function.naming import resource_name
from function.resolve import ResolvedGroup

KIND = "access"
API_VERSION = "authorization.spaces.upbound.io/v1alpha1"


def name_of(group: str) -> str:
    """The composition resource name of a group's ObjectRoleBinding Object."""
    return resource_name(KIND, group)


def build(ctx: Context) -> Composition:
    """An Object per group with access, once its group is ready and its teams have IDs."""
    out = Composition()
    kept = set()
    for group in ctx.env.groups:
        if not group.access:
            continue
        name = name_of(group.name)
        kept.add(name)
        exists = ctx.observed.exists(name)
        if not exists and not ctx.observed.ready(groups.name_of(group.name)):
            out.waiting.append(Waiting(name, f"waiting for group {group.name} to be ready"))
            continue
        missing = [a.team for a in group.access if a.team not in ctx.team_ids]
        if missing:
            reason = (
                f"waiting for the Upbound ID of team {', '.join(missing)}: provider-upbound "
                "records it when it creates the Team (or set the team's externalName)"
            )
            if exists:  # Keep the roles granted so far until every ID is known.
                kept_as_is = ctx.observed.as_desired(name)
                out.desired.append(Desired(name, kept_as_is, ctx.observed.ready(name)))
                reason += "; keeping the current binding until then"
            out.waiting.append(Waiting(name, reason))
            continue
        out.desired.append(
            ctx.kubernetes_object(
                name, ctx.env.provider_config_space, _binding(ctx, group), protect=group.protect
            )
        )
    owners = {group.name for group in ctx.env.groups}
    out += grants.release_or_revoke(ctx, KIND, kept, owners)
    return out


def _binding(ctx: Context, group: ResolvedGroup) -> dict[str, Any]:
    """The ObjectRoleBinding that gives a group's teams their roles on its namespace."""
    return {
        "apiVersion": API_VERSION,
        "kind": "ObjectRoleBinding",
        "metadata": {"name": group.name, "namespace": group.name},
        "spec": {
            "object": {"apiGroup": "core", "resource": "namespaces", "name": group.name},
            "subjects": [
                {"kind": "UpboundTeam", "name": ctx.team_ids[a.team], "role": a.role}
                for a in group.access
            ],
        },
    }
