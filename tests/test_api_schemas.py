"""The generated XRDs, input CRD and reference against the models, the examples and parse().

The committed files must be what `python -m hack.generate` writes (the drift check lives here
only). Examples are checked as the API server would check them (tests/schemas.py: defaults,
structural schema, CEL rules), and parse() must agree with the XRD on valid and invalid specs.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from function import resolve
from function.api.types import SPACE_TYPES_KEY
from hack import generate
from hack import render as r
from tests import factories as f
from tests import schemas
from tests.world import World

ROOT = Path(__file__).resolve().parents[1]
XRD_V2 = "example/xrd.yaml"
XRD_V1 = "example/xrd-v1.yaml"
GROUP_XRD_V2 = "example/controlplanegroup/xrd.yaml"
GROUP_XRD_V1 = "example/controlplanegroup/xrd-v1.yaml"
INPUT_CRD = "package/input/upboundenvironment.fn.crossplane.io_inputs.yaml"
# What Crossplane adds to every XR's spec and status; an XRD must leave them out.
CROSSPLANE_SPEC_FIELDS = {
    "crossplane",
    "compositionRef",
    "compositionSelector",
    "compositionRevisionRef",
    "compositionRevisionSelector",
    "compositionUpdatePolicy",
    "claimRef",
    "resourceRefs",
    "writeConnectionSecretToRef",
    "publishConnectionDetailsTo",
    "environmentConfigRefs",
}
CROSSPLANE_STATUS_FIELDS = {"conditions", "connectionDetails", "claimConditionTypes"}
# JSON Schema that pydantic writes but a structural schema (or Kubernetes) does not take.
NOT_STRUCTURAL = {"$ref", "$defs", "anyOf", "allOf", "oneOf", "not", "title", "const"}
NOT_STRUCTURAL |= {"patternProperties", "propertyNames", "nullable", SPACE_TYPES_KEY}


def load(path: str) -> dict[str, Any]:
    """One YAML document of the repository."""
    document: dict[str, Any] = yaml.safe_load((ROOT / path).read_text())
    return document


def function_input() -> dict[str, Any]:
    """The input of example/composition.yaml's step."""
    step: dict[str, Any] = load("example/composition.yaml")["spec"]["pipeline"][0]
    return dict(step["input"])


@functools.cache
def xr_crd(xrd_path: str) -> schemas.Crd:
    """The CRD version Crossplane serves for an XRD (apiVersion and kind added at the top)."""
    xrd = load(xrd_path)
    schema = copy.deepcopy(xrd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    schema["properties"] = {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        **schema["properties"],
    }
    return schemas.crd_version(schema, cluster_scoped=xrd["spec"].get("scope") != "Namespaced")


def input_crd() -> schemas.Crd:
    """The function input's CRD version."""
    version = load(INPUT_CRD)["spec"]["versions"][0]
    return schemas.crd_version(version["schema"]["openAPIV3Schema"], cluster_scoped=False)


def nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node under node, with its path."""
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from nodes(child, f"{path}.{name}")
    if "items" in node:
        yield from nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from nodes(node["additionalProperties"], f"{path}{{}}")


# --- Drift ------------------------------------------------------------------------------------


def test_generated_files_are_current() -> None:
    assert generate.stale() == [], "run: .venv/bin/python -m hack.generate"
    assert generate.main(["--check"]) == 0


def test_check_names_missing_and_edited_files(tmp_path: Path) -> None:
    outputs = generate.outputs()
    assert set(generate.stale(tmp_path)) == set(outputs)
    for path, text in outputs.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    assert generate.stale(tmp_path) == []
    (tmp_path / XRD_V2).write_text(outputs[Path(XRD_V2)].replace("maxItems: 100", "maxItems: 9"))
    assert generate.stale(tmp_path) == [Path(XRD_V2)]


def test_the_configuration_package_gets_the_v2_xrd() -> None:
    definition = (ROOT / "configuration/apis/upboundenvironment/definition.yaml").read_text()
    assert definition == (ROOT / XRD_V2).read_text()


# --- Shape of the XRDs and the CRD ------------------------------------------------------------


def test_xrds_name_and_scope() -> None:
    v2, v1 = load(XRD_V2), load(XRD_V1)
    assert v2["apiVersion"] == "apiextensions.crossplane.io/v2"
    assert v2["spec"]["scope"] == "Namespaced"
    assert v1["apiVersion"] == "apiextensions.crossplane.io/v1"
    assert "scope" not in v1["spec"]
    assert "claimNames" not in v1["spec"]
    for xrd in (v2, v1):
        assert xrd["metadata"]["name"] == "upboundenvironments.platform.upbound.io"
        # `kubectl get upboundenvironments` resolves: the plural is the kind's (no claims in v2).
        assert xrd["spec"]["names"]["plural"] == xrd["spec"]["names"]["kind"].lower() + "s"
        assert xrd["metadata"]["name"] == f"{xrd['spec']['names']['plural']}.{xrd['spec']['group']}"
        assert xrd["spec"]["names"]["kind"] == "UpboundEnvironment"
        (version,) = xrd["spec"]["versions"]
        assert (version["name"], version["served"], version["referenceable"]) == (
            "v1alpha1",
            True,
            True,
        )
    composition = load("example/composition.yaml")
    assert v2["spec"]["defaultCompositionRef"]["name"] == composition["metadata"]["name"]
    assert v2["spec"]["versions"] == v1["spec"]["versions"]


def test_printer_columns_point_at_schema_fields() -> None:
    (version,) = load(XRD_V2)["spec"]["versions"]
    schema = version["schema"]["openAPIV3Schema"]
    columns = {c["name"]: c for c in version["additionalPrinterColumns"]}
    # Crossplane appends SYNCED, READY, COMPOSITION and AGE itself.
    assert list(columns) == ["SPACE", "CONTROLPLANES", "READY-CONTROLPLANES"]
    for column in columns.values():
        node = schema
        for part in column["jsonPath"].strip(".").split("."):
            node = node["properties"][part]
        assert node["type"] == column["type"]


@pytest.mark.parametrize("path", [XRD_V2, XRD_V1, GROUP_XRD_V2, GROUP_XRD_V1, INPUT_CRD])
def test_schemas_are_structural_and_described(path: str) -> None:
    document = load(path)
    (version,) = document["spec"]["versions"]
    schema = version["schema"]["openAPIV3Schema"]
    for where, node in nodes(schema):
        assert not set(node) & NOT_STRUCTURAL, f"{where}: {set(node) & NOT_STRUCTURAL}"
        assert isinstance(node.get("additionalProperties", {}), dict), where
        assert node.get("type") in {"object", "array", "string", "integer", "boolean"}, where
        if node["type"] == "array":
            assert "items" in node, where
        if node["type"] == "object" and where not in {"", ".metadata"}:
            assert ("properties" in node) != ("additionalProperties" in node), where
        if "default" in node:
            jsonschema.validate(node["default"], schemas.to_jsonschema(node))
        for rule in node.get("x-kubernetes-validations", ()):
            assert set(rule) == {"rule", "message"}, where
            schemas._program(rule["rule"])  # compiles
        if node.get("x-kubernetes-validations") and node["type"] == "array":
            assert "maxItems" in node, f"{where}: a CEL rule over a list needs maxItems"
        assert set(node.get("required", ())) <= set(node.get("properties", {})), where
    described = [w for w, n in nodes(schema) if w and not w.endswith(("[]", "{}"))]
    undescribed = [w for w in described if "description" not in dict(nodes(schema))[w]]
    assert set(undescribed) <= {".metadata"}


@pytest.mark.parametrize("path", [XRD_V2, XRD_V1, GROUP_XRD_V2, GROUP_XRD_V1])
def test_xrds_leave_crossplane_fields_to_crossplane(path: str) -> None:
    (version,) = load(path)["spec"]["versions"]
    properties = version["schema"]["openAPIV3Schema"]["properties"]
    assert set(properties) == {"spec", "status"}
    assert not set(properties["spec"]["properties"]) & CROSSPLANE_SPEC_FIELDS
    assert not set(properties["status"]["properties"]) & CROSSPLANE_STATUS_FIELDS


def test_reference_lists_every_spec_and_input_field() -> None:
    reference = (ROOT / "docs/reference.md").read_text()
    (version,) = load(XRD_V2)["spec"]["versions"]
    xr = version["schema"]["openAPIV3Schema"]
    crd = load(INPUT_CRD)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    paths = [w[1:] for w, _ in nodes(xr) if w not in {"", ".spec", ".status"}]
    paths += [f"input{w}" for w, _ in nodes(crd) if w]
    fields = [f"`{p}`" for p in paths if not p.endswith(("[]", "{}"))]
    assert [f for f in fields if f"| {f} |" not in reference] == []
    assert "| `spec.space.host` | string |  | Cloud, Connected |" in reference


# --- Examples ---------------------------------------------------------------------------------

EXAMPLES = sorted(p.name for p in (ROOT / "example").glob("xr*.yaml") if "xrd" not in p.name)


def xrd_for(xr: dict[str, Any]) -> str:
    """The XRD an example XR is written for: v2 if it is namespaced, else v1."""
    return XRD_V2 if "namespace" in xr["metadata"] else XRD_V1


def test_every_example_is_checked() -> None:
    assert {"xr.yaml", "xr-cluster.yaml", "xr-connected.yaml", "xr-disconnected.yaml"} <= set(
        EXAMPLES
    )


@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_are_valid_xrs_and_parse(name: str) -> None:
    xr = load(f"example/{name}")
    assert schemas.validate_against(xr, xr_crd(xrd_for(xr))) == []
    resolve.parse(xr, function_input())


def test_the_control_plane_group_example_is_a_valid_xr() -> None:
    xr = load("example/controlplanegroup/xr.yaml")
    assert schemas.validate_against(xr, xr_crd(GROUP_XRD_V2)) == []
    resolve.parse(xr, function_input())


def test_a_namespaced_xr_is_not_valid_for_the_v1_xrd() -> None:
    errors = schemas.validate_against(load("example/xr.yaml"), xr_crd(XRD_V1))
    assert errors == ["metadata.namespace: set on a cluster-scoped kind"]


def test_the_input_crd_accepts_the_compositions_input() -> None:
    assert schemas.validate_against(function_input(), input_crd()) == []


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"ttl": {"readySeconds": 0}}, "ttl.readySeconds: 0 is less than the minimum of 1"),
        ({"argocd": {"namespace": "Argo"}}, "argocd.namespace: 'Argo' does not match"),
        ({"connectionSecretNamespace": 7}, "connectionSecretNamespace: 7 is not of type"),
    ],
)
def test_the_input_crd_and_parse_reject_bad_input(change: dict[str, Any], error: str) -> None:
    bad = function_input() | change
    errors = schemas.validate_against(bad, input_crd())
    assert any(e.startswith(error) for e in errors), errors
    with pytest.raises(resolve.SpecError):
        resolve.parse(load("example/xr.yaml"), bad)


def test_the_status_the_function_writes_fits_the_xrd() -> None:
    xr = load("example/xr.yaml")
    with r.running_function() as address:
        result = r.render(
            xr,
            load("example/composition.yaml"),
            r.load_yaml_documents(ROOT / "example/functions.yaml"),
            observed=r.load_yaml_documents(ROOT / "example/observed.yaml"),
            required=r.load_yaml_documents(ROOT / "example/required-resources.yaml"),
            address_override={"upbound-function-upbound-environment": address},
        )
    status = {k: v for k, v in result.xr["status"].items() if k not in CROSSPLANE_STATUS_FIELDS}
    assert status["summary"]["controlPlanes"] == 3
    assert {"group", "name", "ready", "registered", "message", "server", "argoCluster"} == set(
        status["controlPlanes"][0]
    )
    assert schemas.validate_against(xr | {"status": status}, xr_crd(XRD_V2)) == []


@pytest.mark.parametrize("namespace", ["platform", None])
def test_the_control_plane_groups_an_environment_composes_fit_their_xrd(
    namespace: str | None,
) -> None:
    spec = {**f.spec(), "sharding": "Enabled"}
    world = World(f.xr(spec, namespace=namespace))
    world.converge()
    xrd = GROUP_XRD_V2 if namespace else GROUP_XRD_V1
    assert len(world.groups) == 2
    for group in world.groups.values():
        status = {k: v for k, v in group.body["status"].items() if k != "conditions"}
        assert schemas.validate_against(group.body | {"status": status}, xr_crd(xrd)) == []
    status = world.environment.body["status"]
    status = {k: v for k, v in status.items() if k != "conditions"}
    env_xrd = XRD_V2 if namespace else XRD_V1
    assert schemas.validate_against(world.xr | {"status": status}, xr_crd(env_xrd)) == []


# --- parse() and the XRD agree ----------------------------------------------------------------

BASE: dict[str, Any] = {
    "organization": "acme",
    "space": {"type": "Cloud", "name": "upbound-gcp-us-west-1"},
    "groups": [{"name": "dev", "controlPlanes": [{"name": "ctp1"}]}],
}


def spec_with(**changes: Any) -> dict[str, Any]:
    """BASE with top-level spec fields replaced."""
    return copy.deepcopy(BASE) | changes


def cps(*control_planes: dict[str, Any]) -> list[dict[str, Any]]:
    """One group, dev, holding these control planes."""
    return [{"name": "dev", "controlPlanes": list(control_planes)}]


NONE = {"autoUpgrade": {"channel": "None"}}
VALID = {
    "base": spec_with(),
    "disconnected-needs-no-name-or-host": spec_with(space={"type": "Disconnected"}),
    "connected-with-a-url": spec_with(
        space={"type": "Connected", "host": "https://proxy.acme.example.com:443/"}
    ),
    "channel-none-with-a-version": spec_with(
        groups=cps({"name": "a", "crossplane": NONE | {"version": "1.20.1-up.1"}})
    ),
    "channel-none-version-from-defaults": spec_with(
        controlPlaneDefaults={"crossplane": {"version": "1.20.1-up.1"}},
        groups=cps({"name": "a", "crossplane": NONE}),
    ),
    "default-channel-none-overridden": spec_with(
        controlPlaneDefaults={"crossplane": NONE},
        groups=cps({"name": "a", "crossplane": {"autoUpgrade": {"channel": "Rapid"}}}),
    ),
    "same-control-plane-name-in-two-groups": spec_with(
        groups=[
            {"name": "dev", "controlPlanes": [{"name": "ctp1"}]},
            {"name": "prod", "controlPlanes": [{"name": "ctp1"}]},
        ]
    ),
    "iam": spec_with(
        iam={
            "teams": [{"name": "platform"}, {"name": "apps"}],
            "robots": [{"name": "ci", "teams": ["platform", "apps"]}],
            "repositories": [
                {"name": "configs", "permissions": [{"team": "apps", "permission": "read"}]}
            ],
        }
    ),
}
# Each is rejected by the XRD with this message (a CEL rule's, or the schema's) and by parse.
INVALID = {
    "duplicate-group": (
        spec_with(groups=[{"name": "dev"}, {"name": "dev"}]),
        "spec.groups: group names must be unique",
    ),
    "duplicate-control-plane": (
        spec_with(groups=cps({"name": "a"}, {"name": "a"})),
        "spec.groups[0].controlPlanes: control plane names in a group must be unique",
    ),
    "duplicate-team": (
        spec_with(iam={"teams": [{"name": "t"}, {"name": "t"}]}),
        "spec.iam.teams: team names must be unique",
    ),
    "duplicate-robot": (
        spec_with(iam={"robots": [{"name": "r"}, {"name": "r"}]}),
        "spec.iam.robots: robot names must be unique",
    ),
    "duplicate-repository": (
        spec_with(iam={"repositories": [{"name": "x"}, {"name": "x"}]}),
        "spec.iam.repositories: repository names must be unique",
    ),
    "duplicate-permission": (
        spec_with(
            iam={
                "teams": [{"name": "t"}],
                "repositories": [
                    {
                        "name": "x",
                        "permissions": [
                            {"team": "t", "permission": "read"},
                            {"team": "t", "permission": "admin"},
                        ],
                    }
                ],
            }
        ),
        "spec.iam.repositories[0].permissions: teams in permissions must be unique",
    ),
    "channel-none-without-version": (
        spec_with(groups=cps({"name": "a", "crossplane": NONE})),
        "spec: a control plane whose autoUpgrade.channel is None needs crossplane.version",
    ),
    "default-channel-none-without-version": (
        spec_with(controlPlaneDefaults={"crossplane": NONE}),
        "spec: a control plane whose autoUpgrade.channel is None needs crossplane.version",
    ),
    "leading-v": (
        spec_with(groups=cps({"name": "a", "crossplane": {"version": "v1.20.1-up.1"}})),
        "spec.groups[0].controlPlanes[0].crossplane.version: must not start with a leading 'v'",
    ),
    "leading-v-in-defaults": (
        spec_with(controlPlaneDefaults={"crossplane": {"version": "v1.20.1"}}),
        "spec.controlPlaneDefaults.crossplane.version: must not start with a leading 'v'",
    ),
    "cloud-without-name": (
        spec_with(space={"type": "Cloud"}),
        "spec.space: name is required for Cloud spaces",
    ),
    "unknown-space-type": (
        spec_with(space={"type": "Hosted"}),
        "spec.space.type: 'Hosted' is not one of",
    ),
    "missing-organization": (
        {"space": {"type": "Disconnected"}},
        "spec: 'organization' is a required property",
    ),
    "robot-lists-a-team-twice": (
        spec_with(iam={"teams": [{"name": "t"}], "robots": [{"name": "r", "teams": ["t", "t"]}]}),
        "spec.iam.robots[0].teams: [",
    ),
    "argo-secret-type-label": (
        spec_with(argocd={"labels": {"argocd.argoproj.io/secret-type": "repository"}}),
        "spec.argocd.labels: must not set argocd.argoproj.io/secret-type",
    ),
    "argo-secret-type-label-on-a-control-plane": (
        spec_with(
            groups=cps({"name": "a", "argocd": {"labels": {"argocd.argoproj.io/secret-type": "x"}}})
        ),
        "spec.groups[0].controlPlanes[0].argocd.labels: must not set argocd.argoproj.io/",
    ),
    "bad-host": (
        spec_with(space={"type": "Connected", "host": "proxy.acme.example.com/path"}),
        "spec.space.host: 'proxy.acme.example.com/path' does not match",
    ),
}


def xr_of(spec: dict[str, Any]) -> dict[str, Any]:
    """A namespaced UpboundEnvironment with this spec."""
    return {
        "apiVersion": "platform.upbound.io/v1alpha1",
        "kind": "UpboundEnvironment",
        "metadata": {"name": "acme", "namespace": "platform"},
        "spec": spec,
    }


def parse_problems(xr: dict[str, Any]) -> list[str]:
    """parse()'s problems with an XR, with example/composition.yaml's input."""
    try:
        resolve.parse(xr, function_input())
    except resolve.SpecError as e:
        return e.problems
    return []


@pytest.mark.parametrize("spec", VALID.values(), ids=VALID.keys())
def test_parse_and_the_xrd_accept(spec: dict[str, Any]) -> None:
    xr = xr_of(spec)
    for xrd in (XRD_V2, XRD_V1):
        crd = xr_crd(xrd)
        cluster_xr = xr if xrd == XRD_V2 else xr | {"metadata": {"name": "acme"}}
        assert schemas.validate_against(cluster_xr, crd) == []
    assert parse_problems(xr) == []


@pytest.mark.parametrize(("spec", "error"), INVALID.values(), ids=INVALID.keys())
def test_parse_and_the_xrd_reject(spec: dict[str, Any], error: str) -> None:
    xr = xr_of(spec)
    errors = schemas.validate_against(xr, xr_crd(XRD_V2))
    assert any(e.startswith(error) for e in errors), errors
    assert not [e for e in errors if "CEL error" in e]
    where = error.split(":", 1)[0]  # parse() names the same field, or one inside it
    assert [p for p in parse_problems(xr) if p.startswith(where)], parse_problems(xr)


# Specs over a tiny vocabulary, so that duplicates and channel/version mixes are common. They
# leave out what only parse() checks (unknown teams, label keys, CA bundle contents, Argo CD
# cluster names that collide across groups: names here hold no '-').
_NAMES = st.sampled_from(["a", "b", "c"])
_CROSSPLANE = st.fixed_dictionaries(
    {},
    optional={
        "version": st.sampled_from(["1.20.1-up.1", "v1.20.1"]),
        "autoUpgrade": st.fixed_dictionaries(
            {}, optional={"channel": st.sampled_from(["None", "Stable"])}
        ),
    },
)
_SPECS = st.fixed_dictionaries(
    {
        "organization": st.just("acme"),
        "space": st.fixed_dictionaries(
            {"type": st.sampled_from(["Cloud", "Connected", "Disconnected"])},
            optional={
                "name": st.sampled_from(["", "space1"]),
                "host": st.sampled_from(["", "proxy.example.com"]),
            },
        ),
    },
    optional={
        "controlPlaneDefaults": st.fixed_dictionaries(
            {},
            optional={
                "crossplane": _CROSSPLANE,
                # Strings and numbers are not booleans, to the XRD or to parse().
                "protect": st.sampled_from([True, False, "false", "no", 0, 1.0]),
            },
        ),
        "argocd": st.fixed_dictionaries(
            {},
            optional={
                "clusterNamePrefix": st.sampled_from(
                    ["", "controlplane-", "prod.", "a.b-", "x..", "a.-", ".a", "a-.b", "A"]
                ),
                "enabled": st.sampled_from([True, False, "yes", 1.0]),
            },
        ),
        "groups": st.lists(
            st.fixed_dictionaries(
                {"name": _NAMES},
                optional={
                    "controlPlanes": st.lists(
                        st.fixed_dictionaries(
                            {"name": _NAMES}, optional={"crossplane": _CROSSPLANE}
                        ),
                        max_size=3,
                    )
                },
            ),
            max_size=3,
        ),
        "iam": st.fixed_dictionaries(
            {},
            optional={
                key: st.lists(st.fixed_dictionaries({"name": _NAMES}), max_size=3)
                for key in ("teams", "robots", "repositories")
            },
        ),
    },
)


@settings(max_examples=150, deadline=None)
@given(_SPECS)
def test_parse_and_the_xrd_agree_on_generated_specs(spec: dict[str, Any]) -> None:
    xr = xr_of(spec)
    xrd_errors = schemas.validate_against(xr, xr_crd(XRD_V2))
    assert not [e for e in xrd_errors if "CEL error" in e]
    assert (xrd_errors == []) == (parse_problems(xr) == []), (xrd_errors, parse_problems(xr))


def test_xrd_defaults_match_the_models() -> None:
    crd = xr_crd(XRD_V2)
    xr = xr_of(
        spec_with(
            controlPlaneDefaults={},
            argocd={"credentials": "ClusterSecret", "tokenSecretRef": {"name": "t"}},
            groups=cps({"name": "a", "argocd": {}}),
            iam={"repositories": [{"name": "x"}]},
        )
    )
    schemas._apply_defaults(crd.schema, xr)
    env = resolve.parse(xr_of(xr["spec"]), None)
    spec = xr["spec"]
    assert spec["controlPlaneDefaults"]["protect"] is env.default_protect is True
    assert spec["argocd"]["enabled"] is env.argocd.enabled is True
    assert spec["argocd"]["tokenSecretRef"]["key"] == env.argocd.token_secret_ref.key == "token"
    (cp,) = env.control_planes()
    assert spec["groups"][0]["controlPlanes"][0]["argocd"]["register"] is cp.register is True
    (repository,) = env.repositories
    assert spec["iam"]["repositories"][0]["public"] is repository.public is False
