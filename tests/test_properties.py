"""Properties of RunFunction over generated specs and observed states (hypothesis).

For every input the function returns (it never raises). A valid spec composes resources that
all validate against the reference CRDs, answers byte-for-byte the same twice, and does not
change when every list in the spec is reordered. An invalid spec gives exactly one result, a
Fatal one naming each bad field, and no desired resources at all.

Most examples run in-process (FunctionRunner); a few go through the real server. The
example counts come from the hypothesis profile in conftest.py.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import random
from collections.abc import Iterator
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import yaml
from crossplane.function import resource
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from function.compose.iam import is_team_id
from function.fn import FunctionRunner
from function.resolve import SpecError, parse
from tests import factories as f
from tests import names
from tests.schemas import assert_valid
from tests.server import Server
from tests.world import World

Path = tuple[str | int, ...]

# --- Valid specs --------------------------------------------------------------------------

dns_label = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z").filter(lambda s: len(s) <= 63)
short_label = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?\Z")
subdomain = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?(\.[a-z0-9]{1,8}){0,2}\Z")
host = st.from_regex(
    r"\A(https://)?[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?(\.[a-z0-9]{1,8}){0,3}(:[0-9]{1,5})?/?\Z"
)
version = st.from_regex(r"\A[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{1,2}(-up\.[0-9])?\Z")
unicode_text = st.text(max_size=40)
label_name = st.from_regex(r"\A[A-Za-z0-9]([-A-Za-z0-9_.]{0,10}[A-Za-z0-9])?\Z")
# A prefix up to Kubernetes' 253 characters: four labels of up to 63.
long_prefix = (
    st.lists(st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z"), min_size=1, max_size=4)
    .map(".".join)
    .filter(lambda p: len(p) <= 253)
)
label_key = st.one_of(
    st.from_regex(
        r"\A([a-z0-9]{1,8}\.[a-z]{2,4}/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,10}[A-Za-z0-9])?\Z"
    ),
    st.builds(lambda p, n: f"{p}/{n}", long_prefix, label_name),
)
label_value = st.from_regex(r"\A([A-Za-z0-9]([-A-Za-z0-9_.]{0,10}[A-Za-z0-9])?)?\Z")
labels = st.dictionaries(label_key, label_value, max_size=3)
crossplane = st.one_of(
    st.just({}),
    st.builds(lambda v: {"version": v}, version),
    st.builds(
        lambda c: {"autoUpgrade": {"channel": c}}, st.sampled_from(["Patch", "Stable", "Rapid"])
    ),
    st.builds(lambda v: {"version": v, "autoUpgrade": {"channel": "None"}}, version),
    st.builds(lambda s: {"state": s}, st.sampled_from(["Running", "Paused"])),
)


def optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A dict with any subset of the given fields."""
    return st.fixed_dictionaries({}, optional=fields)


def unique_by_name(
    item: st.SearchStrategy[dict[str, Any]], max_size: int
) -> st.SearchStrategy[list[dict[str, Any]]]:
    """A list of entries with unique `name`s."""
    return st.lists(item, max_size=max_size, unique_by=lambda e: e["name"])


control_plane = st.fixed_dictionaries(
    {"name": dns_label},
    optional={
        "crossplane": crossplane,
        "protect": st.booleans(),
        "argocd": optional(register=st.booleans(), project=unicode_text, labels=labels),
    },
)
group = st.fixed_dictionaries(
    {"name": dns_label},
    optional={"controlPlanes": unique_by_name(control_plane, 3), "protect": st.just(True)},
)
# XR names are DNS-1123 subdomains; long ones make composed names that must be cut.
xr_names = st.one_of(st.just("acme"), long_prefix)
space = st.one_of(
    st.fixed_dictionaries({"type": st.just("Cloud"), "name": short_label}),
    st.fixed_dictionaries(
        {"type": st.just("Connected")},
        optional={"host": host, "caBundle": st.just(f.CA_DATA.decode())},
    ),
    st.fixed_dictionaries({"type": st.just("Disconnected")}, optional={"caBundle": st.just("")}),
)


@st.composite
def iam(draw: st.DrawFn, max_size: int = 4) -> dict[str, Any]:
    """Teams, robots in some of them, repositories granting some of them."""
    upbound_id = st.uuids().map(str)
    team = st.fixed_dictionaries(
        {"name": dns_label},
        optional={
            "description": unicode_text,
            "externalName": upbound_id,
            "protect": st.booleans(),
        },
    )
    teams = draw(unique_by_name(team, max_size))
    names = [t["name"] for t in teams]
    some_teams = st.lists(st.sampled_from(names), unique=True) if names else st.just([])
    robot = st.fixed_dictionaries(
        {"name": dns_label},
        optional={
            "description": unicode_text,
            "teams": some_teams,
            "externalName": upbound_id,
            "protect": st.booleans(),
        },
    )
    permission = st.sampled_from(["admin", "read", "write", "view"])
    grants = some_teams.flatmap(
        lambda ts: st.tuples(*(permission for _ in ts)).map(
            lambda ps: [{"team": t, "permission": p} for t, p in zip(ts, ps, strict=True)]
        )
    )
    repository = st.fixed_dictionaries(
        {"name": dns_label},
        optional={
            "public": st.booleans(),
            "publish": st.booleans(),
            "permissions": grants,
            "protect": st.booleans(),
        },
    )
    robots = draw(unique_by_name(robot, max_size))
    for i, entry in enumerate(robots):
        names = draw(st.lists(short_label, max_size=2, unique=True))
        tokens = [{"name": n, "secretRef": {"name": f"token-{i}-{j}"}} for j, n in enumerate(names)]
        if tokens:
            entry["tokens"] = tokens
    return {
        **draw(optional(protect=st.booleans())),
        "teams": teams,
        "robots": robots,
        "repositories": draw(unique_by_name(repository, max_size)),
    }


@st.composite
def with_access(draw: st.DrawFn, spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with some of its teams given roles on some of its groups."""
    names = [t["name"] for t in spec["iam"]["teams"]]
    for group in spec["groups"] if names else []:
        teams = draw(st.lists(st.sampled_from(names), unique=True, max_size=3))
        roles = st.sampled_from(["viewer", "editor", "admin"])
        if teams:
            group["access"] = [{"team": t, "role": draw(roles)} for t in teams]
    return spec


def specs(groups: int = 3, iam_size: int = 4) -> st.SearchStrategy[dict[str, Any]]:
    """Valid UpboundEnvironment specs (the token Secret is f.TOKEN_SECRET)."""
    return (
        st.fixed_dictionaries(
            {
                "organization": dns_label,
                "space": space,
                "groups": unique_by_name(group, groups),
                "argocd": st.fixed_dictionaries(
                    {},
                    optional={
                        "credentials": st.just("Environment"),
                        "upboundDomain": st.sampled_from(
                            ["https://upbound.io", "https://upbound.acme.example.com:8443"]
                        ),
                        "enabled": st.booleans(),
                        "namespace": short_label,
                        "clusterNamePrefix": st.from_regex(
                            r"\A([a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?\.){0,2}([a-z0-9][-a-z0-9]{0,10})?\Z"
                        ),
                        "labels": labels,
                    },
                ),
                "iam": iam(iam_size),
            },
            optional={
                "providerConfigs": optional(
                    space=subdomain,
                    argocd=subdomain,
                    upbound=subdomain,
                    kind=st.sampled_from(["ProviderConfig", "ClusterProviderConfig"]),
                ),
                "controlPlaneDefaults": optional(crossplane=crossplane, protect=st.booleans()),
            },
        )
        .map(_credentials)
        .filter(_argo_names_unique)
        .flatmap(with_access)
    )


def _credentials(spec: dict[str, Any]) -> dict[str, Any]:
    """Half the specs read the token from a Secret (its namespace omitted: the XR's own)."""
    if len(spec["organization"]) % 2:
        spec["argocd"] = {**spec["argocd"], **f.CLUSTER_SECRET}
    return spec


def _argo_names_unique(spec: dict[str, Any]) -> bool:
    """Group `a-b` with control plane `c` and group `a` with `b-c` share an Argo cluster name."""
    pairs = [
        f"{g['name']}-{cp['name']}" for g in spec["groups"] for cp in g.get("controlPlanes", [])
    ]
    return len(pairs) == len(set(pairs))


flavours = st.sampled_from(["platform", None])

# --- Observed states ----------------------------------------------------------------------


# YAML nested past PyYAML's recursion limit and past libyaml's depth limit, or just under it.
HOSTILE_KUBECONFIGS = st.sampled_from(
    [b"[" * 2000, b"{a: " * 1500, b"[" * 999 + b"]" * 999, b"- " * 3000]
)


@st.composite
def observed_states(
    draw: st.DrawFn, spec: dict[str, Any], namespace: str | None
) -> dict[str, fnv1.Resource]:
    """What Crossplane might observe: part of what this spec, or a bigger one, composed.

    The bigger spec has extra groups, control planes and IAM entries that the current spec
    has dropped; each observed resource is Ready or not, and a Disconnected control plane's
    kubeconfig may be missing or hostile (nested deeper than either YAML loader goes).
    """
    previous = copy.deepcopy(spec)
    previous["groups"] = previous["groups"] + [
        {"name": "removed-group", "controlPlanes": [{"name": "gone"}]}
    ]
    previous["iam"]["teams"] = [*previous["iam"]["teams"], {"name": "removed-team"}]
    assume(
        _argo_names_unique(previous)
        and len({g["name"] for g in previous["groups"]}) == len(previous["groups"])
    )
    full, _ = f.settle(f.xr(previous, namespace=namespace))
    observed = {}
    for name, body in f.desired(full).items():
        presence = draw(
            st.sampled_from(["absent", "unready", "ready", "ready-no-details", "ready-hostile"])
        )
        if presence == "absent":
            continue
        resource = f.observe({name: body}, ready=presence != "unready")[name]
        if presence == "ready-no-details":
            resource.ClearField("connection_details")
        if presence == "ready-hostile":
            for key in resource.connection_details:
                resource.connection_details[key] = draw(HOSTILE_KUBECONFIGS)
        observed[name] = resource
    return observed


# --- Invalid specs ------------------------------------------------------------------------

BAD_LABELS = ["Dev", "dév", "😀", "-dev", "dev-", "a" * 64, "", "dev.prod", "dev_1", "d ev", "\x00"]
WRONG_TYPES: dict[str, list[Any]] = {
    "label": [3.0, True, ["dev"], {"name": "dev"}, None],
    "optional label": [3.0, True, ["dev"], {"name": "dev"}],  # null: unset
    "bool": [["yes"], {"value": True}, "maybe", 2.5, None, "false", "no", "yes", 0, 1.0],
    "optional bool": ["false", "no", "yes", 0, 1.0, ["yes"], {"value": True}],  # null: unset
    "prefix": ["x..", "a.-", ".a", "a-.b", "A", 5.0],
    "labels": [{"a" * 254 + "/x": "v"}, {"Bad Key": "v"}, {"x": "-v"}, ["x"], None],
    "list": ["dev", 1.0, {"name": "dev"}, True, None],
    "object": ["dev", 1.0, ["dev"], True, None],
    "enum": ["Hybrid", "cloud", "", 1.0, None],
}


def sites(spec: dict[str, Any]) -> Iterator[tuple[Path, str, bool]]:
    """Every field of a valid spec a mutation may break: (path, type, required)."""
    yield ("organization",), "label", True
    yield ("space",), "object", True
    yield ("space", "type"), "enum", True
    if spec["space"]["type"] == "Cloud":  # missing: a resolved check, named beside the rest
        yield ("space", "name"), "label", True
    yield ("groups",), "list", False
    for gi, group in enumerate(spec["groups"]):
        yield from _group_sites(gi, group)
    if "protect" in spec.get("controlPlaneDefaults", {}):
        yield ("controlPlaneDefaults", "protect"), "bool", False
    if "clusterNamePrefix" in spec["argocd"]:
        yield ("argocd", "clusterNamePrefix"), "prefix", False
    if "labels" in spec["argocd"]:
        yield ("argocd", "labels"), "labels", False
    yield ("argocd", "enabled"), "bool", False
    if "tokenSecretRef" in spec["argocd"]:
        yield ("argocd", "tokenSecretRef", "namespace"), "optional label", False
    iam = spec["iam"]
    for kind in ("teams", "robots", "repositories"):
        yield ("iam", kind), "list", False
        for i, _ in enumerate(iam[kind]):
            yield ("iam", kind, i, "name"), "label", True
    for ri, robot in enumerate(iam["robots"]):
        for ti, _ in enumerate(robot.get("teams", [])):
            yield ("iam", "robots", ri, "teams", ti), "label", False
    for ri, repository in enumerate(iam["repositories"]):
        yield ("iam", "repositories", ri, "public"), "bool", False
        for pi, _ in enumerate(repository.get("permissions", [])):
            yield ("iam", "repositories", ri, "permissions", pi, "permission"), "enum", True


def _group_sites(gi: int, group: dict[str, Any]) -> Iterator[tuple[Path, str, bool]]:
    """The fields of `spec.groups[gi]` a mutation may break."""
    yield ("groups", gi), "object", False
    yield ("groups", gi, "name"), "label", True
    yield ("groups", gi, "controlPlanes"), "list", False
    if "protect" in group:
        yield ("groups", gi, "protect"), "optional bool", False
    for ci, cp in enumerate(group.get("controlPlanes", [])):
        at: Path = ("groups", gi, "controlPlanes", ci)
        yield (*at, "name"), "label", True
        if "crossplane" in cp:
            yield (*at, "crossplane"), "object", False
        if "protect" in cp:
            yield (*at, "protect"), "optional bool", False
        if "register" in cp.get("argocd", {}):
            yield (*at, "argocd", "register"), "bool", False


def field_path(path: Path) -> str:
    """`spec.groups[0].name`, as the Fatal message writes it."""
    return "spec" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


# Fields whose problems depend on each other: a Cloud space's name is checked by its type.
_DEPENDENT = {frozenset({("space", "name"), ("space", "type")})}


def _unrelated(a: Path, b: Path) -> bool:
    if frozenset({a, b}) in _DEPENDENT:
        return False
    return a[: len(b)] != b and b[: len(a)] != a


@st.composite
def invalid_specs(
    draw: st.DrawFn, base: st.SearchStrategy[dict[str, Any]]
) -> tuple[dict[str, Any], list[str]]:
    """A valid spec with one to three unrelated fields broken; and those fields' paths."""
    spec = copy.deepcopy(draw(base))  # st.just values are shared between examples
    chosen: list[tuple[Path, str, bool]] = []
    candidates = list(sites(spec))
    for _ in range(draw(st.integers(1, 3))):
        free = [s for s in candidates if all(_unrelated(s[0], c[0]) for c in chosen)]
        if not free:
            break
        chosen.append(draw(st.sampled_from(free)))
    broken = []
    for path, kind, required in chosen:
        parent: Any = spec  # a dict or a list, as the path goes
        for part in path[:-1]:
            parent = parent[part]
        choices = (
            ["wrong type", "unknown field"]
            if kind == "object" and path[-1] != "space"
            else ["wrong type"]
        )
        if kind in {"label", "optional label"}:
            choices.append("odd name")
        if required:
            choices.append("missing")
        how = draw(st.sampled_from(choices))
        if how == "missing":
            del parent[path[-1]]
        elif how == "odd name":
            parent[path[-1]] = draw(
                st.sampled_from(BAD_LABELS) | st.text(min_size=1).filter(lambda s: not s.isascii())
            )
        elif how == "unknown field":
            parent[path[-1]]["nmae"] = "typo"
            path = (*path, "nmae")  # noqa: PLW2901 - the broken field is the new one
        else:
            parent[path[-1]] = draw(st.sampled_from(WRONG_TYPES[kind]))
        broken.append(field_path(path))
    return spec, broken


# --- Helpers ------------------------------------------------------------------------------


def shuffled(value: Any, rnd: random.Random) -> Any:
    """The value with every list in it (recursively) in a random order."""
    if isinstance(value, dict):
        return {k: shuffled(v, rnd) for k, v in value.items()}
    if isinstance(value, list):
        items = [shuffled(v, rnd) for v in value]
        rnd.shuffle(items)
        return items
    return value


def run(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
    """The runner's work, without RunFunction's last-resort catch: a bug raises here."""
    return FunctionRunner().run(req)


def assert_composes_validly(rsp: fnv1.RunFunctionResponse) -> None:
    assert f.fatal(rsp) == []
    for composed in f.desired(rsp).values():
        assert_valid(composed)


def assert_refused(rsp: fnv1.RunFunctionResponse, broken: list[str]) -> None:
    assert [r.severity for r in rsp.results] == [fnv1.SEVERITY_FATAL]
    message = rsp.results[0].message
    for path in broken:
        assert f"- {path}" in message, f"{path} not named in:\n{message}"
    assert len(rsp.desired.resources) == 0


# --- Properties ---------------------------------------------------------------------------


@given(spec=specs(), namespace=flavours, data=st.data())
def test_a_valid_spec_composes_valid_resources_from_any_observed_state(
    spec: dict[str, Any], namespace: str | None, data: st.DataObject
) -> None:
    observed = data.draw(observed_states(spec, namespace))
    rsp = run(f.request(f.xr(spec, namespace=namespace), observed=observed))
    assert_composes_validly(rsp)


@given(spec=specs(), namespace=flavours, name=xr_names)
def test_every_name_and_label_written_is_one_kubernetes_accepts(
    spec: dict[str, Any], namespace: str | None, name: str
) -> None:
    """Names, namespaces, label keys and values, references: the API server's own rules."""
    rsp, _ = f.settle(f.xr(spec, name=name, namespace=namespace))
    desired = f.desired(rsp)
    problems = [p for n, body in desired.items() for p in names.object_problems(body, n)]
    assert problems == []
    keys = [
        (b["kind"], b["metadata"].get("namespace"), b["metadata"]["name"]) for b in desired.values()
    ]
    assert len(set(keys)) == len(keys), "two composed resources share a name"


@given(spec=specs(), namespace=flavours, data=st.data())
def test_the_same_request_gets_the_same_bytes(
    spec: dict[str, Any], namespace: str | None, data: st.DataObject
) -> None:
    req = f.request(
        f.xr(spec, namespace=namespace), observed=data.draw(observed_states(spec, namespace))
    )
    first = run(req).SerializeToString(deterministic=True)
    assert run(req).SerializeToString(deterministic=True) == first


@given(spec=specs(), namespace=flavours, rnd=st.randoms(use_true_random=False), data=st.data())
def test_reordering_every_list_changes_nothing(
    spec: dict[str, Any], namespace: str | None, rnd: random.Random, data: st.DataObject
) -> None:
    observed = data.draw(observed_states(spec, namespace))
    rsp = run(f.request(f.xr(spec, namespace=namespace), observed=observed))
    reordered = run(f.request(f.xr(shuffled(spec, rnd), namespace=namespace), observed=observed))
    assert f.desired(reordered) == f.desired(rsp)
    assert reordered.desired.composite == rsp.desired.composite
    assert list(reordered.results) == list(rsp.results)


@given(case=invalid_specs(specs()), namespace=flavours)
def test_an_invalid_spec_is_one_fatal_naming_each_bad_field(
    case: tuple[dict[str, Any], list[str]], namespace: str | None
) -> None:
    spec, broken = case
    observed = {
        n: f.observed_resource(n) for n in ("group.dev", "controlplane.dev.ctp1", "team.platform")
    }
    rsp = run(f.request(f.xr(spec, namespace=namespace), observed=observed))
    assert_refused(rsp, broken)


@settings(max_examples=5)
@given(spec=specs(groups=40, iam_size=150), namespace=flavours)
def test_big_lists_compose_valid_resources(spec: dict[str, Any], namespace: str | None) -> None:
    rsp, _ = f.settle(f.xr(spec, namespace=namespace))
    assert_composes_validly(rsp)


@settings(max_examples=5)
@given(case=invalid_specs(specs(groups=40, iam_size=150)))
def test_big_invalid_lists_are_refused(case: tuple[dict[str, Any], list[str]]) -> None:
    spec, broken = case
    assert_refused(run(f.request(f.xr(spec))), broken)


def json_values(keys: list[str]) -> st.SearchStrategy[Any]:
    """Any JSON value, its objects' keys often drawn from `keys`."""
    return st.recursive(
        st.none()
        | st.booleans()
        | st.floats(allow_nan=False, allow_infinity=False)  # a Struct holds no inf
        | st.text(max_size=10),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.sampled_from(keys) | st.text(max_size=5), children, max_size=5)
        ),
        max_leaves=30,
    )


SPEC_KEYS = ["organization", "space", "type", "groups", "name", "iam", "teams", "argocd"]
OBSERVED_KEYS = [
    *("apiVersion", "kind", "metadata", "spec", "status", "conditions", "type"),
    *("released", "controlPlanes", "ready", "group"),
    *("Ready", "True", "name", "forProvider", "manifest", "managementPolicies", "deletionPolicy"),
    *("atProvider", "data", "ingress-host", "ingress-ca"),
]
OBSERVED_NAMES = [
    *("group.dev", "group.old", "controlplane.dev.ctp1", "controlplane.old.x", "space-ingress"),
    *("team.platform", "access.dev", "robot-token.ci.ci", "repository-permission.configs.app-team"),
]
RUNNER = FunctionRunner()
SETTLED, DISCONNECTED = f.settle(f.xr(f.spec(space={"type": "Disconnected"})))


@given(raw=json_values(SPEC_KEYS))
def test_any_json_as_a_spec_is_refused_without_raising(raw: Any) -> None:
    xr = f.xr()
    xr["spec"] = raw
    try:
        parse(xr, None)
    except SpecError:
        pass
    else:
        raise AssertionError(f"accepted {raw!r}")
    rsp = run(f.request(xr))
    assert [r.severity for r in rsp.results] == [fnv1.SEVERITY_FATAL]
    assert len(rsp.desired.resources) == 0


@given(raw=json_values([*SPEC_KEYS, "environment", "group", "controlPlanes", "release"]))
def test_any_json_as_a_control_plane_group_spec_is_refused_without_raising(raw: Any) -> None:
    xr = {**f.xr(), "kind": "ControlPlaneGroup", "spec": raw}
    rsp = run(f.request(xr))
    assert [r.severity for r in rsp.results] == [fnv1.SEVERITY_FATAL]
    assert rsp.results[0].message.startswith("invalid ControlPlaneGroup")
    assert len(rsp.desired.resources) == 0


@settings(max_examples=10)
@given(spec=specs(), namespace=flavours)
def test_any_valid_spec_moves_to_groups_and_back_losing_nothing(
    spec: dict[str, Any], namespace: str | None
) -> None:
    world = World(f.xr({**spec, "sharding": "Disabled"}, namespace=namespace))
    world.converge()
    for sharding in ("Enabled", "Disabled"):
        world.edit({**spec, "sharding": sharding})
        world.converge()
    assert world.deleted == []
    assert world.conflicts == []


@given(
    junk=st.dictionaries(
        st.sampled_from([*OBSERVED_NAMES, "argocd-cluster.dev.ctp1", "controlplanegroup.dev"])
        | st.text(max_size=8),
        st.dictionaries(st.sampled_from(OBSERVED_KEYS), json_values(OBSERVED_KEYS), max_size=5),
        max_size=3,
    )
)
def test_any_observed_state_gets_an_answer_never_a_partial_one(junk: dict[str, Any]) -> None:
    """Malformed observed resources are reported on themselves; the rest composes.

    Only two observed resources that claim one metadata.name (Crossplane never sends such a
    pair) make a Fatal, which composes nothing.
    """
    observed = {n: f.observed_resource(n) for n in ("group.dev", "controlplane.dev.ctp1")}
    observed |= {n: fnv1.Resource(resource=resource.dict_to_struct(b)) for n, b in junk.items()}
    # Connected without a host: the Space's ingress is read from an observed Object too.
    xr = f.xr(f.spec(space={"type": "Connected"}))
    rsp = asyncio.run(RUNNER.RunFunction(f.request(xr, observed=observed)))
    if f.fatal(rsp):
        assert [r.severity for r in rsp.results] == [fnv1.SEVERITY_FATAL]
        assert "would both be named" in rsp.results[0].message
        assert len(rsp.desired.resources) == 0
        return
    desired = set(rsp.desired.resources)
    assert {"group.dev", "group.prod", "controlplane.dev.ctp1"} <= desired
    known = {n for n in observed if n.startswith(("group.", "controlplane."))}
    assert known <= desired | {n for n in known if _may_go(observed[n])}


def _may_go(observed: fnv1.Resource) -> bool:
    """Whether dropping an observed resource is allowed: readable and composed unprotected."""
    body = resource.struct_to_dict(observed.resource)
    metadata, spec = body.get("metadata"), body.get("spec", {})
    if not (isinstance(body.get("apiVersion"), str) and body["apiVersion"]):
        return False
    if not (isinstance(body.get("kind"), str) and body["kind"]) or not isinstance(spec, dict):
        return False
    annotations = metadata.get("annotations", {}) if isinstance(metadata, dict) else None
    return metadata is None or isinstance(annotations, dict)


kubeconfig_text = st.one_of(
    json_values(
        [
            "clusters",
            "contexts",
            "users",
            "current-context",
            "name",
            "context",
            "cluster",
            "user",
            "server",
            "token",
            "certificate-authority-data",
        ]
    ).map(lambda v: yaml.safe_dump(v).encode()),
    st.binary(max_size=64),
    HOSTILE_KUBECONFIGS,
    st.builds(
        lambda k, v: f.kubeconfig().replace(k, v),
        st.sampled_from([b"current-context: ctp", b"contexts:\n", b"users:\n", b"clusters:\n"]),
        st.sampled_from(
            [
                b"current-context: [x]",
                b"contexts: [1]\nx:\n",
                b"users: 5\nx:\n",
                b"clusters: {}\nx:\n",
                b"current-context: nope",
            ]
        ),
    ),
)


@given(raw=kubeconfig_text)
def test_any_kubeconfig_concerns_its_control_plane_only(raw: bytes) -> None:
    """A kubeconfig that cannot be used is a warning on its control plane; the rest composes."""
    xr = f.xr(f.spec(space={"type": "Disconnected"}))
    observed = dict(DISCONNECTED)
    changed = fnv1.Resource()
    changed.CopyFrom(observed["controlplane.dev.ctp1"])
    changed.connection_details["kubeconfig"] = raw
    observed["controlplane.dev.ctp1"] = changed
    rsp = run(f.request(xr, observed=observed))
    assert f.fatal(rsp) == []
    assert set(rsp.desired.resources) == set(observed)
    others = {n for n in observed if n != "argocd-cluster.dev.ctp1"}
    for name in others:
        assert rsp.desired.resources[name] == SETTLED.desired.resources[name]
    for r in rsp.results:
        assert f.KUBECONFIG_TOKEN not in r.message


@given(data=json_values(["token", "data"]))
def test_any_token_secret_data_is_a_warning_or_used(data: Any) -> None:
    """ClusterSecret mode: a token Secret of any shape never crashes; the rest composes."""
    secret = {**f.TOKEN_SECRET, "data": data}
    xr = f.xr(f.spec(argocd=f.CLUSTER_SECRET))
    rsp = run(f.request(xr, token_secret=secret, observed=["group.dev"]))
    assert f.fatal(rsp) == []
    assert "controlplane.dev.ctp1" in rsp.desired.resources
    for r in rsp.results:
        assert f.TOKEN not in r.message


@given(
    # Marked garbage (never an ID, never otherwise in a status), or near-IDs of any length.
    external_name=st.text(max_size=120).map(lambda t: f"~{t}")
    | st.from_regex(r"\A[a-z0-9-]{1,120}\Z"),
    namespace=flavours,
)
def test_any_observed_team_external_name_never_reaches_a_binding(
    external_name: str, namespace: str | None
) -> None:
    """Whatever an observed Team carries as its external name, the binding names only IDs
    that fit the ObjectRoleBinding's subject pattern, or waits; garbage is never quoted."""
    xr = f.xr(namespace=namespace)
    observed = f.observe(f.desired(f.settle(xr)[0]))
    team = resource.struct_to_dict(observed["team.platform"].resource)
    team["metadata"]["annotations"][f.EXTERNAL_NAME] = external_name
    observed["team.platform"] = fnv1.Resource(resource=resource.dict_to_struct(team))
    rsp = run(f.request(xr, observed=observed))
    assert_composes_validly(rsp)
    subjects = f.manifest(f.desired(rsp)["access.dev"])["spec"]["subjects"]
    assert external_name not in {s["name"] for s in subjects} or is_team_id(external_name)
    status = resource.struct_to_dict(rsp.desired.composite.resource)["status"]
    if external_name.startswith("~"):
        assert external_name not in str(status)
        assert all(external_name not in r.message for r in rsp.results)


@settings(max_examples=6)
@given(
    case=st.one_of(specs().map(lambda s: (s, [])), invalid_specs(specs())),
    namespace=flavours,
)
def test_the_real_server_answers_as_the_runner_does(
    debug_server: Server, case: tuple[dict[str, Any], list[str]], namespace: str | None
) -> None:
    spec, broken = case
    req = f.request(f.xr(spec, namespace=namespace))
    rsp = debug_server.call(req)
    if broken:
        assert_refused(rsp, broken)
    else:
        assert_composes_validly(rsp)
    assert rsp.SerializeToString(deterministic=True) == run(req).SerializeToString(
        deterministic=True
    )


def test_secret_token_with_odd_bytes_never_raises() -> None:
    """Token Secrets with binary or non-UTF-8 data: a Warning, and the clusters wait."""
    for raw in (b"\xff\xfe", b"", b" \n", bytes(range(256))):
        secret = copy.deepcopy(f.TOKEN_SECRET)
        secret["data"]["token"] = base64.b64encode(raw).decode()
        xr = f.xr(f.spec(argocd=f.CLUSTER_SECRET))
        rsp = run(f.request(xr, token_secret=secret, observed=["group.dev"]))
        assert [r.severity for r in rsp.results] == [
            fnv1.SEVERITY_WARNING,
            fnv1.SEVERITY_NORMAL,
        ], raw
        assert "controlplane.dev.ctp1" in rsp.desired.resources


# --- Tenants reach only their own namespace -------------------------------------------------

NAMESPACE_CHOICES = [None, "platform", "kube-system", "crossplane-system", "platform-2"]
secret_ref = st.fixed_dictionaries(
    {"name": st.sampled_from(["upbound-token", "upbound-credentials", "x"])},
    optional={
        "namespace": st.sampled_from(NAMESPACE_CHOICES[1:]) | dns_label,
        "key": st.sampled_from(["token", "pat"]),
    },
)
credentials_mode = st.sampled_from(["Environment", "ClusterSecret"])
hostile_argocd = st.fixed_dictionaries(
    {}, optional={"credentials": credentials_mode, "tokenSecretRef": secret_ref}
)
hostile_input = st.none() | st.fixed_dictionaries(
    {"argocd": st.fixed_dictionaries(
        {}, optional={"credentials": credentials_mode, "tokenSecretRef": secret_ref}
    )}
)  # fmt: skip


@settings(max_examples=60)
@given(
    spec=specs(),
    argocd=hostile_argocd,
    function_input=hostile_input,
    supply_token=st.booleans(),
)
def test_a_namespaced_xr_never_makes_the_function_ask_outside_its_namespace(
    debug_server: Server,
    spec: dict[str, Any],
    argocd: dict[str, Any],
    function_input: dict[str, Any] | None,
    supply_token: bool,
) -> None:
    """Whatever the XR says, requirements name only its namespace, or the input's Secret."""
    spec = {**spec, "argocd": argocd}
    req = f.request(
        f.xr(spec, namespace="platform"),
        function_input=function_input,
        supply_token=supply_token,
    )
    rsp = debug_server.call(req)
    allowed = {"platform"}
    input_ref = ((function_input or {}).get("argocd") or {}).get("tokenSecretRef")
    if input_ref and "namespace" in input_ref:
        allowed.add(input_ref["namespace"])
    for requirements in (rsp.requirements.resources, rsp.requirements.extra_resources):
        for selector in requirements.values():
            assert selector.namespace in allowed, (selector.namespace, argocd, function_input)
    if f.fatal(rsp):
        assert not rsp.requirements.resources and not rsp.requirements.extra_resources
