"""The packages and the files users apply, checked without Docker or the crossplane CLI.

tests/test_crossplane_cli.py builds both packages with the real `crossplane xpkg build`
(its linters included); the release workflow builds the published ones. These tests hold the
project to the rules that build and Crossplane's package manager apply, and to a few more
(version ranges, one Composition source), so a bad package fails here too:

- package/ is a Function package: crossplane.yaml (meta Function) plus CRDs, all YAML.
- configuration/ is a Configuration package: crossplane.yaml (meta Configuration) plus XRDs
  and Compositions, all YAML.
- Meta files declare Crossplane and dependency versions as semver constraints (the
  Masterminds syntax Crossplane parses), and the ranges admit the provider versions whose
  CRDs the composed resources are validated against (../shared/crds/README.md).
- The Composition has one source (example/composition.yaml; configuration/ holds an exact
  copy), calls the Function by the name Crossplane gives the Configuration's dependency,
  composes the kind the XRDs and example XRs use, and its input is valid for the function.
- Every YAML file parses; the getting-started manifests validate against the reference
  CRDs or Kubernetes' own schemas, and agree with the function's defaults.
- The workflows parse, pin every action by commit SHA and pin the Crossplane CLI; the image
  and both packages are built for amd64 and arm64 on every change and pushed only on tags;
  CI without the reference data warns and skips what needs it.
- The Function package declares the `composition` capability and both declare the license;
  the image is built from what .dockerignore admits, with constraints.txt, and without pip.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from function import resolve
from function.api.input import FunctionInput
from function.api.types import SecretKeyRef
from tests.schemas import SKIP_ENV, validate

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "package"
CONFIGURATION = ROOT / "configuration"
EXAMPLE = ROOT / "example"
GETTING_STARTED = EXAMPLE / "getting-started"
WORKFLOWS = ROOT / ".github" / "workflows"
COMPOSITION = EXAMPLE / "composition.yaml"
CONFIGURATION_COMPOSITION = CONFIGURATION / "apis" / "upboundenvironment" / "composition.yaml"
CONFIGURATION_XRD = CONFIGURATION / "apis" / "upboundenvironment" / "definition.yaml"
EXAMPLE_XRDS = (EXAMPLE / "xrd.yaml", EXAMPLE / "xrd-v1.yaml")
# The ControlPlaneGroup a sharded environment composes per group: its own Composition (same
# function, same input), XRDs and example, under example/controlplanegroup/.
GROUP_EXAMPLE = EXAMPLE / "controlplanegroup"
GROUP_COMPOSITION = GROUP_EXAMPLE / "composition.yaml"
CONFIGURATION_GROUP = CONFIGURATION / "apis" / "controlplanegroup"
GROUP_XRDS = (
    GROUP_EXAMPLE / "xrd.yaml",
    GROUP_EXAMPLE / "xrd-v1.yaml",
    CONFIGURATION_GROUP / "definition.yaml",
)

FUNCTION_PACKAGE = "xpkg.upbound.io/upbound/function-upbound-environment"
CONFIGURATION_PACKAGE = "xpkg.upbound.io/upbound/configuration-upbound-environment"
PROVIDER_KUBERNETES = "xpkg.upbound.io/crossplane-contrib/provider-kubernetes"
PROVIDER_UPBOUND = "xpkg.upbound.io/upbound/provider-upbound"

CRD = ("apiextensions.k8s.io/v1", "CustomResourceDefinition")
XRD_API_VERSIONS = frozenset({"apiextensions.crossplane.io/v1", "apiextensions.crossplane.io/v2"})
COMPOSITION_KIND = ("apiextensions.crossplane.io/v1", "Composition")
META_API_VERSION = "meta.pkg.crossplane.io/v1"
YAML_SUFFIXES = frozenset({".yaml", ".yml"})


# --- Helpers ------------------------------------------------------------------------------


@functools.cache
def documents(path: Path) -> tuple[Any, ...]:
    """The non-empty YAML documents of a file, parsed once."""
    return tuple(doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None)


def only(path: Path) -> dict[str, Any]:
    """The single YAML document of a file."""
    docs = documents(path)
    assert len(docs) == 1, f"{path.relative_to(ROOT)}: expected one document, got {len(docs)}"
    doc: dict[str, Any] = docs[0]
    return doc


def files(root: Path) -> list[Path]:
    """Every file under root, hidden ones included, sorted."""
    return sorted(p for p in root.rglob("*") if p.is_file())


def yaml_files(*roots: Path) -> list[Path]:
    """Every YAML file under the roots."""
    return [p for root in roots for p in files(root) if p.suffix in YAML_SUFFIXES]


def type_of(doc: dict[str, Any]) -> tuple[str, str]:
    """(apiVersion, kind) of a document."""
    return str(doc.get("apiVersion")), str(doc.get("kind"))


def dns_label_of_repository(package: str) -> str:
    """The name Crossplane gives a package it installs as a dependency.

    The repository path without the registry, '/' replaced by '-': the Function of
    `xpkg.upbound.io/upbound/function-x` is named `upbound-function-x`
    (crossplane/crossplane#6866).
    """
    return package.split("/", 1)[1].replace("/", "-")


def function_dependency(meta: dict[str, Any]) -> dict[str, Any]:
    """The Configuration's dependency on this project's Function package."""
    dep: dict[str, Any]
    (dep,) = (d for d in meta["spec"]["dependsOn"] if dependency_package(d) == FUNCTION_PACKAGE)
    return dep


def dependency_package(dep: dict[str, Any]) -> str:
    """The package a dependsOn entry names, in either of its two forms."""
    return str(dep.get("package") or dep.get("function") or dep.get("provider") or "")


def compositions() -> list[Path]:
    """Every Composition file: each source and the Configuration's copy."""
    return [
        COMPOSITION,
        CONFIGURATION_COMPOSITION,
        GROUP_COMPOSITION,
        CONFIGURATION_GROUP / "composition.yaml",
    ]


def composition_step(path: Path) -> dict[str, Any]:
    """The Composition's one pipeline step."""
    (step,) = only(path)["spec"]["pipeline"]
    return dict(step)


# --- Semver constraints, as Crossplane parses them (Masterminds/semver v3) ----------------

_VERSION = (
    r"v?(?:0|[1-9]\d*|[xX*])(?:\.(?:0|[1-9]\d*|[xX*])){0,2}"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)
_OPERATOR = r"(?:!=|>=|=>|<=|=<|~>|>|<|=|~|\^)"
_COMPARISON = re.compile(rf"(?P<op>{_OPERATOR})?(?P<version>{_VERSION})")
_HYPHEN_RANGE = re.compile(rf"(?P<low>{_VERSION})\s+-\s+(?P<high>{_VERSION})")
_OPERATOR_SPACE = re.compile(rf"({_OPERATOR})\s+")


def comparisons(constraint: str) -> list[list[tuple[str, str]]]:
    """Parse a constraint into OR-groups of AND-ed (operator, version) comparisons.

    Masterminds syntax: groups joined by `||`; comparisons within a group separated by
    commas or spaces; `a - b` hyphen ranges; operators = != > >= < <= ~ ~> ^.

    Raises:
        ValueError: If the text is not a constraint.
    """
    groups = []
    for group in constraint.split("||"):
        text = _HYPHEN_RANGE.sub(r">=\g<low> <=\g<high>", group.strip())
        text = _OPERATOR_SPACE.sub(r"\1", text)
        tokens = [t for t in re.split(r"[,\s]+", text) if t]
        if not tokens:
            raise ValueError(f"{constraint!r}: empty comparison group")
        parsed = []
        for token in tokens:
            match = _COMPARISON.fullmatch(token)
            if match is None:
                raise ValueError(f"{constraint!r}: {token!r} is not a semver comparison")
            parsed.append((match["op"] or "=", match["version"]))
        groups.append(parsed)
    return groups


# A pre-release's place: (1, "") for none, else (0, its identifiers as (0, number) or (1, text)).
_PreRelease = tuple[int, str | tuple[tuple[int, int] | tuple[int, str], ...]]


def _version_key(version: str) -> tuple[int, int, int, _PreRelease]:
    """Sort key of a full semver version: a pre-release sorts before its release."""
    core, _, pre = version.removeprefix("v").partition("+")[0].partition("-")
    major, minor, patch = (int(part) for part in core.split("."))
    if not pre:
        return (major, minor, patch, (1, ""))
    ids = tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split("."))
    return (major, minor, patch, (0, ids))


def satisfies(constraint: str, version: str) -> bool:
    """Whether a full version meets a constraint of plain comparisons (no ~, ^ or wildcards).

    As in Masterminds v3, a pre-release version only matches a group that names a
    pre-release itself.
    """
    tests = {
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
        "=>": lambda a, b: a >= b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        "=<": lambda a, b: a <= b,
    }
    is_pre = "-" in version.partition("+")[0]
    for group in comparisons(constraint):
        if any(op not in tests for op, _ in group):
            raise ValueError(f"{constraint!r}: only plain comparisons can be evaluated here")
        if is_pre and not any("-" in bound for _, bound in group):
            continue
        key = _version_key(version)
        if all(tests[op](key, _version_key(bound)) for op, bound in group):
            return True
    return False


@pytest.mark.parametrize(
    "constraint",
    [">=v1.0.0", ">=v2.0.0-0", ">=v1.0.0, <v2.0.0", ">= 1.2 < 3.0.0", "^1.2", "~v0.3.x",
     "1.2 - 1.4.5", "1.x || >=2.5.0", "v1.2.3", "!=1.3.0", "*"],
)  # fmt: skip
def test_constraint_parser_accepts_masterminds_syntax(constraint: str) -> None:
    assert comparisons(constraint)


@pytest.mark.parametrize("constraint", ["", ">=", "latest", ">=v1.0.0 ||", "=>>1.0", "v1.02.0"])
def test_constraint_parser_rejects_what_crossplane_rejects(constraint: str) -> None:
    with pytest.raises(ValueError, match="comparison"):
        comparisons(constraint)


def test_satisfies_follows_semver_order_and_prerelease_rules() -> None:
    assert satisfies(">=v1.0.0, <v2.0.0", "v1.2.1")
    assert not satisfies(">=v1.0.0, <v2.0.0", "v0.17.0")
    assert not satisfies(">=v1.0.0, <v2.0.0", "v2.0.0")
    assert not satisfies(">=v1.0.0", "v1.1.0-rc.1")  # no pre-release in the constraint
    assert satisfies(">=v2.0.0-0", "v2.0.2-up.1")
    assert not satisfies(">=v2.0.0-0", "v1.20.1-up.1")
    assert satisfies("<1.0.0 || >=2.0.0", "2.1.0")


# --- Package layout: what `crossplane xpkg build` accepts ---------------------------------


CONTENTS = {
    # package root: (meta kind, the (apiVersion, kind) pairs its other files may hold)
    PACKAGE: ("Function", {CRD}),
    CONFIGURATION: (
        "Configuration",
        {*((v, "CompositeResourceDefinition") for v in XRD_API_VERSIONS), COMPOSITION_KIND},
    ),
}


@pytest.mark.parametrize("root", list(CONTENTS), ids=lambda p: p.name)
def test_package_root_holds_its_meta_file_and_allowed_kinds_only(root: Path) -> None:
    meta_kind, allowed = CONTENTS[root]
    meta_file = root / "crossplane.yaml"
    assert [type_of(doc) for doc in documents(meta_file)] == [(META_API_VERSION, meta_kind)]
    for path in files(root):
        where = path.relative_to(ROOT)
        assert path.suffix in YAML_SUFFIXES, f"{where}: a package holds YAML files only"
        if path != meta_file:
            kinds = {type_of(doc) for doc in documents(path)}
            assert kinds <= allowed, f"{where}: {sorted(kinds - allowed)} not allowed here"


def test_only_the_package_roots_hold_package_meta_files() -> None:
    metas = [
        path.relative_to(ROOT).as_posix()
        for path in yaml_files(PACKAGE, CONFIGURATION, EXAMPLE)
        for doc in documents(path)
        if str(doc.get("apiVersion", "")).startswith("meta.pkg.crossplane.io/")
    ]
    assert metas == ["package/crossplane.yaml", "configuration/crossplane.yaml"]


# --- Meta files: versions and dependencies ------------------------------------------------


@pytest.mark.parametrize(
    "meta_file", [PACKAGE / "crossplane.yaml", CONFIGURATION / "crossplane.yaml"]
)
def test_meta_file_versions_are_semver_constraints(meta_file: Path) -> None:
    meta = only(meta_file)
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", meta["metadata"]["name"])
    comparisons(meta["spec"]["crossplane"]["version"])
    for dep in meta["spec"].get("dependsOn", []):
        comparisons(dep["version"])
        named_by = {"apiVersion", "kind", "package"} & dep.keys()
        legacy = {"provider", "function", "configuration"} & dep.keys()
        assert (named_by == {"apiVersion", "kind", "package"}) != bool(legacy), dep
        assert len(legacy) <= 1, dep
        package = dependency_package(dep)
        assert re.fullmatch(r"[a-z0-9.-]+(/[a-z0-9._-]+)+", package), f"{package}: no tag/digest"


def test_configuration_requires_crossplane_v2_for_the_namespaced_xrd() -> None:
    constraint = only(CONFIGURATION / "crossplane.yaml")["spec"]["crossplane"]["version"]
    assert satisfies(constraint, "v2.0.0")
    assert satisfies(constraint, "v2.1.3-up.1")  # Upbound Crossplane versions are pre-releases
    assert not satisfies(constraint, "v1.20.1")


@pytest.mark.parametrize(
    ("package", "kind", "admitted", "excluded"),
    [
        # Namespaced Objects and ClusterProviderConfig arrived in v1.0.0; the reference CRDs
        # come from main after v1.2.1.
        (PROVIDER_KUBERNETES, "Provider", ["v1.0.0", "v1.2.1"], ["v0.17.0", "v2.0.0"]),
        # The *.m.upbound.io APIs are the v1 line's (reference CRDs: the v1.0.0 era).
        (PROVIDER_UPBOUND, "Provider", ["v1.0.0"], ["v0.10.0", "v2.0.0"]),
        (FUNCTION_PACKAGE, "Function", ["v0.1.0"], ["v0.0.9", "v1.0.0"]),
    ],
)
def test_configuration_depends_on_what_the_composition_needs(
    package: str, kind: str, admitted: list[str], excluded: list[str]
) -> None:
    deps = only(CONFIGURATION / "crossplane.yaml")["spec"]["dependsOn"]
    dep: dict[str, Any]
    (dep,) = (d for d in deps if dependency_package(d) == package)
    assert (dep.get("apiVersion"), dep.get("kind")) == ("pkg.crossplane.io/v1", kind)
    assert [v for v in admitted if not satisfies(dep["version"], v)] == []
    assert [v for v in excluded if satisfies(dep["version"], v)] == []


def test_configuration_depends_on_this_function_package() -> None:
    package = dependency_package(function_dependency(only(CONFIGURATION / "crossplane.yaml")))
    assert package.rsplit("/", 1)[1] == only(PACKAGE / "crossplane.yaml")["metadata"]["name"]


# --- The Composition ----------------------------------------------------------------------


def test_configuration_ships_an_exact_copy_of_the_example_composition() -> None:
    assert CONFIGURATION_COMPOSITION.read_bytes() == COMPOSITION.read_bytes(), (
        "one Composition: edit example/composition.yaml, then "
        "cp example/composition.yaml configuration/apis/upboundenvironment/composition.yaml"
    )


def test_configuration_ships_an_exact_copy_of_the_group_composition() -> None:
    copy = CONFIGURATION_GROUP / "composition.yaml"
    assert copy.read_bytes() == GROUP_COMPOSITION.read_bytes(), (
        f"one Composition: edit {GROUP_COMPOSITION.relative_to(ROOT)}, then copy it to "
        f"{copy.relative_to(ROOT)}"
    )


def test_the_group_composition_runs_the_same_function_and_input_for_its_kind() -> None:
    """A group resolves what its spec leaves out (a token Secret outside its namespace) from
    its own input, so both Compositions give the function the same defaults."""
    step, environment_step = composition_step(GROUP_COMPOSITION), composition_step(COMPOSITION)
    assert step["functionRef"] == environment_step["functionRef"]
    assert step["input"] == environment_step["input"]
    composition = only(GROUP_COMPOSITION)
    assert composition["spec"]["compositeTypeRef"] == {
        "apiVersion": "platform.upbound.io/v1alpha1",
        "kind": "ControlPlaneGroup",
    }
    for path in GROUP_XRDS:
        xrd = only(path)
        assert xrd["spec"]["names"]["kind"] == "ControlPlaneGroup", path
        assert xrd["spec"]["defaultCompositionRef"] == {"name": composition["metadata"]["name"]}
    resolve.parse(only(GROUP_EXAMPLE / "xr.yaml"), step["input"])


@pytest.mark.parametrize("path", compositions(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_composition_calls_the_function_by_its_installed_name(path: Path) -> None:
    name = composition_step(path)["functionRef"]["name"]
    dep = function_dependency(only(CONFIGURATION / "crossplane.yaml"))
    assert name == dns_label_of_repository(dependency_package(dep))
    # crossplane render finds the function by the same name.
    assert name in {doc["metadata"]["name"] for doc in documents(EXAMPLE / "functions.yaml")}


def test_composition_input_is_valid_function_input() -> None:
    step_input = composition_step(COMPOSITION)["input"]
    assert step_input["apiVersion"] == "upboundenvironment.fn.crossplane.io/v1beta1"
    assert step_input["kind"] == "Input"
    FunctionInput.model_validate(step_input)
    inputs = [
        doc
        for path in files(PACKAGE)
        if path.name != "crossplane.yaml"
        for doc in documents(path)
        if doc["spec"]["names"]["kind"] == "Input"
    ]
    assert inputs, "package/ holds no CRD of the function's Input"
    for crd in inputs:
        served = {f"{crd['spec']['group']}/{v['name']}" for v in crd["spec"]["versions"]}
        assert step_input["apiVersion"] in served


def test_example_xrs_are_of_the_composite_type_and_parse_with_the_composition_input() -> None:
    composite = only(COMPOSITION)["spec"]["compositeTypeRef"]
    step_input = composition_step(COMPOSITION)["input"]
    xrs = sorted(EXAMPLE.glob("xr*.yaml"))
    assert xrs
    for path in (p for p in xrs if not p.name.startswith("xrd")):
        xr = only(path)
        assert type_of(xr) == (composite["apiVersion"], composite["kind"]), path.name
        resolve.parse(xr, step_input)


def xrds_present() -> list[Path]:
    """The XRDs every checkout has: a missing one fails the checks that use them."""
    return [CONFIGURATION_XRD, *EXAMPLE_XRDS]


def test_composition_composes_the_kind_each_xrd_defines() -> None:
    composite = only(COMPOSITION)["spec"]["compositeTypeRef"]
    for path in xrds_present():
        xrd = only(path)
        where = path.relative_to(ROOT)
        assert xrd["apiVersion"] in XRD_API_VERSIONS, where
        names = xrd["spec"]["names"]
        served = {
            f"{xrd['spec']['group']}/{v['name']}" for v in xrd["spec"]["versions"] if v["served"]
        }
        assert names["kind"] == composite["kind"], where
        assert composite["apiVersion"] in served, where
    if CONFIGURATION_XRD.is_file():  # the Configuration needs Crossplane v2's namespaced XRD
        xrd = only(CONFIGURATION_XRD)
        assert xrd["apiVersion"] == "apiextensions.crossplane.io/v2"
        assert xrd["spec"].get("scope", "Namespaced") == "Namespaced"


# --- YAML files users apply ---------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    yaml_files(EXAMPLE, CONFIGURATION, PACKAGE, ROOT / ".github"),
    ids=lambda p: p.relative_to(ROOT).as_posix(),
)
def test_every_yaml_file_parses_into_mappings(path: Path) -> None:
    docs = documents(path)
    assert docs, f"{path.relative_to(ROOT)} is empty"
    assert all(isinstance(doc, dict) for doc in docs)


def getting_started_manifests() -> list[Any]:
    """Every Kubernetes manifest in example/getting-started, as params named file:index."""
    return [
        pytest.param(doc, id=f"{path.relative_to(GETTING_STARTED).as_posix()}:{i}")
        for path in yaml_files(GETTING_STARTED)
        for i, doc in enumerate(documents(path))
        if "apiVersion" in doc  # not the Helm values
    ]


@pytest.mark.parametrize("manifest", getting_started_manifests())
def test_getting_started_manifest_is_valid(manifest: dict[str, Any]) -> None:
    api_version, kind = type_of(manifest)
    if api_version == "v1":  # core kinds: Kubernetes' own strict schemas
        version = kubernetes_validate.latest_version()
        kubernetes_validate.validate(manifest, version, strict=True)
    elif api_version.startswith("pkg.crossplane.io/"):  # no CRD in the reference data
        assert kind in {"Configuration", "Provider", "DeploymentRuntimeConfig"}, kind
    else:
        assert validate(manifest) == []


def test_getting_started_has_both_flavours_of_every_provider_config() -> None:
    expected = {
        "namespaced": {
            ("kubernetes.m.crossplane.io/v1alpha1", "ClusterProviderConfig"),
            ("m.upbound.io/v1alpha1", "ClusterProviderConfig"),
        },
        "cluster-scoped": {
            ("kubernetes.crossplane.io/v1alpha1", "ProviderConfig"),
            ("upbound.io/v1alpha1", "ProviderConfig"),
        },
    }
    for flavour, kinds in expected.items():
        found = {
            type_of(doc) for p in yaml_files(GETTING_STARTED / flavour) for doc in documents(p)
        }
        assert found == kinds, flavour
        names = sorted(only(p)["metadata"]["name"] for p in yaml_files(GETTING_STARTED / flavour))
        # Both Space configs (Cloud/Connected and Disconnected) use the default name.
        defaults = resolve.DEFAULT_PROVIDER_CONFIGS
        assert names == sorted([defaults["argocd"], defaults["space"], defaults["space"],
                                defaults["upbound"]])  # fmt: skip


def test_space_api_config_uses_the_upbound_token_the_function_reads() -> None:
    secret = only(GETTING_STARTED / "upbound-credentials.yaml")
    token_ref = resolve.DEFAULT_TOKEN_SECRET_REF
    key = SecretKeyRef.model_fields["key"].default
    assert secret["metadata"] == {"name": token_ref["name"], "namespace": token_ref["namespace"]}
    assert list(secret["stringData"]) == [key]
    for flavour in ("namespaced", "cluster-scoped"):
        identity = only(GETTING_STARTED / flavour / "space-cloud-connected.yaml")["spec"][
            "identity"
        ]
        assert identity["type"] == "UpboundTokens"
        assert identity["secretRef"] == {**token_ref, "key": key}
        upbound = only(GETTING_STARTED / flavour / "upbound.yaml")["spec"]["credentials"]
        assert upbound["secretRef"] == {**token_ref, "key": key}
        disconnected = only(GETTING_STARTED / flavour / "space-disconnected.yaml")["spec"]
        assert "identity" not in disconnected


def test_argocd_settings_are_the_ones_control_planes_need() -> None:
    config_map = only(GETTING_STARTED / "argocd-cm.yaml")
    assert config_map["metadata"] == {"name": "argocd-cm", "namespace": "argocd"}
    assert config_map["data"] == {
        "application.resourceTrackingMethod": "annotation",
        "resource.respectRBAC": "normal",
    }


def test_provider_kubernetes_redacts_secret_data_from_object_status() -> None:
    configuration = only(GETTING_STARTED / "configuration.yaml")
    assert configuration["spec"]["package"].startswith(CONFIGURATION_PACKAGE + ":")
    runtime, provider = documents(GETTING_STARTED / "provider-kubernetes.yaml")
    assert type_of(runtime) == ("pkg.crossplane.io/v1beta1", "DeploymentRuntimeConfig")
    template = runtime["spec"]["deploymentTemplate"]["spec"]
    assert template["selector"] == {}
    (container,) = template["template"]["spec"]["containers"]
    assert container == {"name": "package-runtime", "args": ["--sanitize-secrets"]}
    assert type_of(provider) == ("pkg.crossplane.io/v1", "Provider")
    assert provider["spec"]["runtimeConfigRef"] == {"name": runtime["metadata"]["name"]}
    # The Provider meets the Configuration's dependency, so Crossplane installs no other.
    package, version = provider["spec"]["package"].rsplit(":", 1)
    (dependency,) = [
        d for d in only(CONFIGURATION / "crossplane.yaml")["spec"]["dependsOn"]
        if d.get("kind") == "Provider" and d["package"] == package
    ]  # fmt: skip
    assert version.startswith("v1."), dependency["version"]


@pytest.mark.parametrize("component", ["controller", "server"])
def test_argocd_gets_up_token_from_a_secret(component: str) -> None:
    values = only(GETTING_STARTED / "argocd-up-token-values.yaml")[component]
    assert values["env"] == [
        {
            "name": "UP_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": "argocd-upbound-token", "key": "token"}},
        }
    ]


@pytest.mark.parametrize("component", ["controller", "server"])
def test_helm_values_put_up_on_the_path_of_argocd(component: str) -> None:
    values = only(GETTING_STARTED / "up-plugin-values.yaml")[component]
    (init,) = values["initContainers"]
    assert init["image"].startswith("xpkg.upbound.io/upbound/up-cli:")
    assert [init["command"][0], *init["args"]] == ["cp", "/usr/local/bin/up", "/plugin/up"]
    assert {v["name"] for v in values["volumes"]} == {"up-plugin", "up-home"}
    mounts = {m["mountPath"]: m for m in values["volumeMounts"]}
    assert mounts["/usr/local/bin/up"] == {
        "name": "up-plugin", "mountPath": "/usr/local/bin/up", "subPath": "up"
    }  # fmt: skip
    assert mounts["/home/argocd/.up"]["name"] == "up-home"
    assert init["volumeMounts"] == [{"name": "up-plugin", "mountPath": "/plugin"}]


# --- Workflows and the image --------------------------------------------------------------


def workflow(name: str) -> dict[str, Any]:
    """A workflow file, with PyYAML's `on: -> True` key put back."""
    data: dict[Any, Any] = only(WORKFLOWS / name)  # one key may be True, not a str
    if True in data:
        data["on"] = data.pop(True)
    return data


def steps(data: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every step of every job."""
    for job in data["jobs"].values():
        yield from job.get("steps", [])


@pytest.mark.parametrize("name", ["ci.yaml", "release.yaml"])
def test_workflow_has_triggers_and_jobs(name: str) -> None:
    data = workflow(name)
    assert data["on"]
    assert data["permissions"] == {"contents": "read"}
    for job_id, job in data["jobs"].items():
        assert "uses" in job or (job["runs-on"] and job["steps"]), job_id


def test_every_action_is_pinned_to_a_commit_with_its_version_noted() -> None:
    uses = re.compile(r"^\s*(?:-\s*)?uses:\s*(?P<ref>\S+)(?P<rest>.*)$")
    sources = [*sorted(WORKFLOWS.glob("*.yaml")), *sorted((ROOT / ".github").glob("actions/*/*"))]
    seen = 0
    for path in sources:
        for line in path.read_text().splitlines():
            match = uses.match(line)
            if not match or match["ref"].startswith("./"):  # local actions and workflows
                continue
            seen += 1
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", match["ref"]), line
            assert re.search(r"#\s*v\d+\.\d+\.\d+", match["rest"]), f"no version comment: {line}"
    assert seen >= 8


def test_ci_runs_the_project_checks_with_the_reference_data() -> None:
    data = workflow("ci.yaml")
    assert "workflow_call" in data["on"]
    runs = [s.get("run", "") for s in steps(data)]
    assert ".ci/run" in runs
    paths = [s.get("with", {}).get("path") for s in steps(data)]
    assert {"project", "shared"} <= set(paths)  # so that ../shared exists beside the project


def test_release_builds_both_architectures_and_both_packages_and_pushes_on_tags() -> None:
    data = workflow("release.yaml")
    env = data["env"]
    assert re.fullmatch(r"v\d+\.\d+\.\d+", env["CROSSPLANE_CLI_VERSION"])
    assert re.fullmatch(r"[0-9a-f]{64}", env["CROSSPLANE_CLI_SHA256"])
    assert data["on"]["push"]["tags"] == ["v*"]
    jobs = data["jobs"]
    assert jobs["function"]["strategy"]["matrix"]["arch"] == ["amd64", "arm64"]
    runs = " ".join(" ".join(s.get("run", "").split()) for s in steps(data))
    assert "--package-root=package" in runs
    assert "--embed-runtime-image-tarball=runtime-${{ matrix.arch }}.tar" in runs
    assert "--package-root=configuration" in runs
    assert "tags/v" in jobs["push"]["if"]
    assert "crossplane xpkg push" in runs
    assert env["FUNCTION_PACKAGE"] == FUNCTION_PACKAGE
    assert env["CONFIGURATION_PACKAGE"] == CONFIGURATION_PACKAGE


def test_image_builds_and_runs_on_the_same_python() -> None:
    stages = re.findall(r"^FROM\s+(\S+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    build, runtime = stages
    # Debian 12's python3 is 3.11, and distroless' python3-debian12 ships that interpreter:
    # the venv built in the first stage links to /usr/bin/python3 of the second.
    assert re.fullmatch(r"debian:12(\.\d+)*-slim", build)
    assert runtime.startswith("gcr.io/distroless/python3-debian12")


def test_function_package_declares_the_composition_capability_and_its_license() -> None:
    license_id = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    function_meta = only(PACKAGE / "crossplane.yaml")
    # Crossplane v2 marks a CompositionRevision MissingCapabilities when a pipeline's function
    # does not declare `composition` (spec.capabilities of meta.pkg.crossplane.io Function).
    assert function_meta["spec"]["capabilities"] == ["composition"]
    for meta_file in (PACKAGE / "crossplane.yaml", CONFIGURATION / "crossplane.yaml"):
        annotations = only(meta_file)["metadata"]["annotations"]
        assert annotations["meta.crossplane.io/license"] == license_id, meta_file.name


def test_release_builds_on_every_change_and_pushes_only_on_tags_after_the_checks() -> None:
    data = workflow("release.yaml")
    assert "pull_request" in data["on"]
    assert data["on"]["push"] == {"branches": ["main"], "tags": ["v*"]}
    jobs = data["jobs"]
    for build in ("function", "configuration"):  # no needs, no if: they run on every change
        assert not {"needs", "if"} & jobs[build].keys(), build
    assert "refs/tags/v" in jobs["checks"]["if"]
    assert jobs["checks"]["uses"] == "./.github/workflows/ci.yaml"
    assert "refs/tags/v" in jobs["push"]["if"]
    assert "github.event_name == 'push'" in jobs["push"]["if"]
    assert set(jobs["push"]["needs"]) == {"checks", "function", "configuration"}
    pushes = [s for s in steps(data) if "xpkg push" in s.get("run", "")]
    assert pushes and all(s in jobs["push"]["steps"] for s in pushes)
    (image,) = [s for s in steps(data) if "build-push-action" in s.get("uses", "")]
    assert image["with"]["platforms"] == "linux/${{ matrix.arch }}"
    assert image["with"].get("push", False) is False


def test_ci_without_the_reference_data_warns_and_skips_what_needs_it() -> None:
    (job,) = workflow("ci.yaml")["jobs"].values()
    by_name = {s["name"]: s for s in job["steps"]}
    warn = next(s for s in job["steps"] if "::warning" in s.get("run", ""))
    assert warn["if"] == "vars.SHARED_REPOSITORY == ''"
    checkout = next(s for s in job["steps"] if s.get("with", {}).get("path") == "shared")
    assert checkout["if"] == "vars.SHARED_REPOSITORY != ''"
    (run,) = [s for s in by_name.values() if s.get("run") == ".ci/run"]
    assert run["env"][SKIP_ENV] == "${{ vars.SHARED_REPOSITORY == '' && '1' || '' }}"


def dockerfile_instructions() -> list[tuple[str, str]]:
    """The Dockerfile's (instruction, arguments), continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return [(line.split(" ", 1)[0], line.split(" ", 1)[1]) for line in lines]


def test_dockerignore_lets_in_only_what_the_dockerfile_copies() -> None:
    patterns = [
        line for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]  # fmt: skip
    assert patterns[0] == "*", "exclude everything, then admit what the image needs"
    admitted = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    copied = {
        source.rstrip("/")
        for instruction, args in dockerfile_instructions()
        if instruction == "COPY" and not args.startswith("--from")
        for source in args.split()[:-1]
    }
    assert copied == admitted
    assert {"tests", ".venv", "bench", ".git"}.isdisjoint(admitted)


def test_runtime_image_installs_the_constraints_and_keeps_no_pip() -> None:
    runs = [args for instruction, args in dockerfile_instructions() if instruction == "RUN"]
    assert not [r for r in runs if "type=cache" in r], "a cache mount on a fresh CI builder"
    (install,) = [r for r in runs if "pip install" in r]
    assert "--constraint constraints.txt" in install
    assert re.search(r"pip uninstall --yes .*\bpip setuptools\b", install)
    assert install.index("pip install") < install.index("pip uninstall")


# --- Documentation links ------------------------------------------------------------------


@pytest.mark.parametrize("doc", ["README.md", "docs/troubleshooting.md", "docs/upgrading.md"])
def test_relative_links_point_at_files_that_exist(doc: str) -> None:
    path = ROOT / doc
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text())
    missing = [
        target for target in targets if "://" not in target and not (path.parent / target).exists()
    ]
    assert missing == []


def test_the_readme_xr_sample_is_a_valid_environment() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## The XR\n", 1)[1]
    sample = yaml.safe_load(section.split("```yaml\n", 1)[1].split("```", 1)[0])
    assert type_of(sample) == ("platform.upbound.io/v1alpha1", "UpboundEnvironment")
    env = resolve.parse(sample, None)
    assert [cp.name for cp in env.control_planes()] == ["ctp1"]
