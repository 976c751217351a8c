"""Teams' access to groups: an `authorization.spaces.upbound.io` ObjectRoleBinding per group.

One Object on the Space provider config per group with `access` wraps an ObjectRoleBinding in
the group's namespace that binds the namespace to its teams, each by its Upbound ID
(`Context.team_ids`: from the spec's externalName or the observed Team, resolved before the
builders run, so this builder composes one group the same whether it runs for the whole
environment or for one group). A binding waits for its group, and for the ID of every team
it names; one that exists already binds the teams whose IDs are known meanwhile.

The binding is protected with its group. Removing a group's last access entry revokes it
(function/compose/grants.py).
"""

from typing import Any

from function.compose import grants, groups
from function.compose.common import Composition, Context, Waiting
from function.naming import resource_name
from function.resolve import ResolvedGroup

KIND = "access"
API_VERSION = "authorization.spaces.upbound.io/v1alpha1"
_MEANWHILE = "; meanwhile the binding grants the teams whose IDs are known"


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
            out.waiting.append(Waiting(name, reason + _MEANWHILE * exists))
            if not exists:
                continue
        # An existing binding binds the teams whose IDs are known, never more than the spec
        # grants: an added team waits, a removed one loses its role at once.
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
                if a.team in ctx.team_ids
            ],
        },
    }
