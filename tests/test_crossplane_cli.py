"""The real crossplane CLI in the loop: render, beta validate and xpkg build with upstream code.

The CLI is the one users run, at the version pinned in hack/crossplane/go.mod, built from
source by hack/crossplane/build (docs/crossplane-cli.md). Its tests skip only without Go.

- `crossplane render` renders every example XR with the inputs scripts/render gives it, and
  converges every environment of tests/environments.py (each Space type, both API flavours)
  round by round, against the real function server the tests start (its Development runtime
  pointed at it with `-a`). The rounds get the same checks as tests/test_e2e.py's.
- `crossplane beta validate` checks every rendered output against the generated XRD of its
  flavour and the reference CRDs in ../shared/crds: upstream schema and CEL validation.
- hack/render.py, fed the same inputs, must print the same documents.
- `crossplane xpkg build` builds both packages (running the package linters) and the built
  packages hold what they should.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from hack import render as hack_render
from tests import environments
from tests import factories as f
from tests.crossplane_cli import FUNCTIONS, ROOT, CliRender, CrossplaneCLI, write_yaml
from tests.schemas import assert_valid, reference_root
from tests.server import Server

EXAMPLE = ROOT / "example"
XRDS = {"namespaced": EXAMPLE / "xrd.yaml", "cluster": EXAMPLE / "xrd-v1.yaml"}
GROUP_EXAMPLE = EXAMPLE / "controlplanegroup"
GROUP_XRDS = {"namespaced": GROUP_EXAMPLE / "xrd.yaml", "cluster": GROUP_EXAMPLE / "xrd-v1.yaml"}
RELEASE_WORKFLOW = ROOT / ".github" / "workflows" / "release.yaml"
COLLECT_EXAMPLES_STEP = "Collect the examples shipped in the packages"
RESOURCE_NAME = environments.RESOURCE_NAME


@dataclass(frozen=True)
class Example:
    """An example XR, the inputs scripts/render gives it, and what it composes."""

    xr: str
    observed: str | None
    required: bool
    names: frozenset[str]

    def __str__(self) -> str:
        return self.xr

    @property
    def observed_path(self) -> Path | None:
        """The observed resources scripts/render passes with -o, if any."""
        return EXAMPLE / self.observed if self.observed else None


EXAMPLES = [
    # The example's ci robot has no token; it adds Argo CD's own team, robot and token, and
    # access to prod, to the environments' spec.
    Example(
        "xr.yaml",
        "observed.yaml",
        True,
        frozenset(environments.EXPECTED_NAMES - {"robot-token.ci.ci"})
        | {"access.prod", "team.argocd", "robot.argocd", "robot-membership.argocd.argocd"}
        | {"robot-token.argocd.argocd"},
    ),
    Example(
        "xr-cluster.yaml",
        "observed-cluster.yaml",
        True,
        frozenset(
            {"group.dev", "controlplane.dev.ctp1", "argocd-cluster.dev.ctp1", "team.platform"}
            | {"robot.ci", "robot-membership.ci.platform", "robot-token.ci.argocd", "access.dev"}
        ),
    ),
    # Nothing observed yet: the groups and IAM come first; control planes and group access
    # wait for the groups; the Space's ingress is read at once (no spec.space.host or caBundle).
    Example(
        "xr-connected.yaml",
        None,
        True,
        frozenset({"group.dev", "space-ingress", "team.deployers", "robot.argocd"})
        | {"robot-membership.argocd.deployers", "robot-token.argocd.argocd"},
    ),
    Example(
        "xr-disconnected.yaml",
        None,
        False,
        frozenset({"group.edge", "team.release", "robot.publisher"})
        | {"robot-membership.publisher.release", "robot-token.publisher.publish"}
        | {"repository.edge-configs", "repository-permission.edge-configs.release"},
    ),
    # Sharded: a ControlPlaneGroup per group (example/controlplanegroup/xr.yaml is dev's).
    Example(
        "xr-sharded.yaml",
        None,
        False,
        frozenset(
            {"controlplanegroup.dev", "controlplanegroup.prod", "team.platform", "robot.ci"}
            | {"robot-membership.ci.platform", "robot-token.ci.ci"}
        ),
    ),
]
ENVIRONMENTS = [(s, fl) for s in sorted(environments.SPACES) for fl in environments.FLAVOURS]


def _name(composed: dict[str, Any]) -> str:
    return str(composed["metadata"]["annotations"][RESOURCE_NAME])


def _by_name(rendered: CliRender) -> dict[str, dict[str, Any]]:
    return {_name(c): c for c in rendered.composed}


def _flavour(xr: dict[str, Any]) -> str:
    return "namespaced" if xr["metadata"].get("namespace") else "cluster"


@dataclass
class Renderer:
    """Renders one XR round after round with the real CLI, keeping every input and output."""

    crossplane: CrossplaneCLI
    server: Server
    workdir: Path
    xr: Path
    required: tuple[Path, ...]
    rounds: int = 0
    inputs: list[Path | None] = field(default_factory=list)  # each round's -o file

    def render(self, observed: Path | None) -> CliRender:
        """The real `crossplane render -r -x`; its output is kept for beta validate."""
        rendered = self.crossplane.render(
            self.xr,
            target=self.server.address,
            observed=observed,
            required=self.required,
            full_xr=True,
        )
        self.rounds += 1
        # What validate checks: the XR (with -x, its spec too) and the composed resources.
        write_yaml(self.workdir / f"rendered-{self.rounds}.yaml", [rendered.xr, *rendered.composed])
        return rendered

    def reconcile(self, observed: environments.Observed) -> CliRender:
        """One round of tests/environments.py's convergence: observed resources go in with -o."""
        path = None
        if observed:
            path = write_yaml(
                self.workdir / f"observed-{self.rounds + 1}.yaml", [*observed.values()]
            )
        self.inputs.append(path)
        return self.render(path)

    def hack_render(self, observed: Path | None) -> list[dict[str, Any]]:
        """hack/render.py's command line (`python -m hack.render -r -x`) on the same inputs."""
        functions = yaml.safe_load(FUNCTIONS.read_text())
        functions["metadata"]["annotations"][hack_render.DEVELOPMENT_TARGET] = self.server.address
        args = ["-r", "-x", str(self.xr), str(EXAMPLE / "composition.yaml")]
        args += [str(write_yaml(self.workdir / "functions.yaml", [functions]))]
        args += ["-o", str(observed)] if observed else []
        args += [a for path in self.required for a in ("-e", str(path))]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            assert hack_render.main(args) == 0, err.getvalue()
        return [d for d in yaml.safe_load_all(out.getvalue()) if d]

    def validate(self) -> str:
        """`crossplane beta validate` of every round rendered so far."""
        xr = yaml.safe_load(self.xr.read_text())
        outputs = sorted(self.workdir.glob("rendered-*.yaml"))
        flavour = _flavour(xr)
        xrds = [XRDS[flavour], GROUP_XRDS[flavour], reference_root()]
        return self.crossplane.validate(xrds, outputs).stdout


def _example(
    crossplane: CrossplaneCLI, server: Server, workdir: Path, example: Example
) -> Renderer:
    required = (EXAMPLE / "required-resources.yaml",) if example.required else ()
    return Renderer(crossplane, server, workdir, EXAMPLE / example.xr, required)


def _environment(
    crossplane: CrossplaneCLI, server: Server, tmp_path: Path, space: str, flavour: str
) -> Renderer:
    xr = write_yaml(tmp_path / "xr.yaml", [environments.environment_xr(space, flavour)])
    token = write_yaml(tmp_path / "required-resources.yaml", [f.TOKEN_SECRET])
    return Renderer(crossplane, server, tmp_path, xr, (token,))


# --- render ---------------------------------------------------------------------------------


def test_every_example_xr_is_rendered_here() -> None:
    shipped = sorted(p.name for p in [*EXAMPLE.glob("xr.yaml"), *EXAMPLE.glob("xr-*.yaml")])
    assert shipped == sorted(e.xr for e in EXAMPLES)


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_an_example_renders_and_validates(
    crossplane: CrossplaneCLI, debug_server: Server, tmp_path: Path, example: Example
) -> None:
    renderer = _example(crossplane, debug_server, tmp_path, example)
    rendered = renderer.render(example.observed_path)

    xr = yaml.safe_load((EXAMPLE / example.xr).read_text())
    flavour = _flavour(xr)
    assert set(_by_name(rendered)) == example.names
    for composed in rendered.composed:
        if composed["kind"] != "ControlPlaneGroup":  # validate checks it with its XRD
            assert_valid(composed)
            assert composed["apiVersion"] == environments.KINDS[flavour][composed["kind"]]
        assert composed["metadata"].get("namespace") == xr["metadata"].get("namespace")
    summary = rendered.xr["status"]["summary"]
    groups = xr["spec"]["groups"]
    assert summary["groups"] == len(groups)
    assert summary["controlPlanes"] == sum(len(g["controlPlanes"]) for g in groups)
    assert all(r["severity"] != "SEVERITY_FATAL" for r in rendered.results)
    assert "0 failure cases" in renderer.validate()


def test_the_control_plane_group_example_renders_and_validates(
    crossplane: CrossplaneCLI, debug_server: Server, tmp_path: Path
) -> None:
    """scripts/render example/controlplanegroup/xr.yaml: the dev group of xr-sharded.yaml
    composes the dev group's Namespace first, named as the environment names it."""
    rendered = crossplane.render(
        GROUP_EXAMPLE / "xr.yaml",
        target=debug_server.address,
        full_xr=True,
        composition=GROUP_EXAMPLE / "composition.yaml",
    )
    assert set(_by_name(rendered)) == {"group.dev"}
    (namespace,) = rendered.composed
    assert_valid(namespace)
    assert namespace["metadata"]["name"].startswith("acme-group-dev-")
    assert all(r["severity"] != "SEVERITY_FATAL" for r in rendered.results)
    assert rendered.xr["status"]["summary"]["controlPlanes"] == 2
    output = write_yaml(tmp_path / "rendered.yaml", [rendered.xr, *rendered.composed])
    xrds = [GROUP_XRDS["namespaced"], reference_root()]
    assert "0 failure cases" in crossplane.validate(xrds, [output]).stdout


@pytest.mark.parametrize(("space", "flavour"), ENVIRONMENTS)
def test_an_environment_converges_with_the_real_cli(
    crossplane: CrossplaneCLI, debug_server: Server, tmp_path: Path, space: str, flavour: str
) -> None:
    renderer = _environment(crossplane, debug_server, tmp_path, space, flavour)
    rounds = environments.converge(renderer.reconcile)
    final = rounds[-1][1]
    desired = _by_name(final)

    environments.assert_ordered([(observed, _by_name(r)) for observed, r in rounds])
    if space == "Disconnected":
        # render sends no connection details, so the kubeconfig never arrives: the Argo CD
        # clusters wait. tests/test_e2e.py converges this one with hack/render.py.
        argocd = {n for n in environments.EXPECTED_NAMES if n.startswith("argocd-cluster.")}
        assert set(desired) == environments.EXPECTED_NAMES - argocd
        waiting = [r["message"] for r in final.results if r["message"].startswith("Waiting")]
        assert waiting, final.results
        assert all(f"{n}:" in waiting[0] for n in argocd), waiting
    else:
        environments.assert_composed(desired, flavour, space)
        environments.assert_status(final.xr["status"], desired, space)
        assert not final.results, final.results
        # groups; control planes; Argo CD clusters; all of them observed Ready.
        assert len(rounds) == 4
    assert "0 failure cases" in renderer.validate()


# --- hack/render.py against the real one ----------------------------------------------------


def _same_inputs(
    crossplane: CrossplaneCLI, server: Server, tmp_path: Path
) -> Iterator[tuple[str, Renderer, Path | None]]:
    """Every example with its scripts/render inputs, and every round of every environment."""
    for example in EXAMPLES:
        workdir = tmp_path / example.xr
        workdir.mkdir()
        yield example.xr, _example(crossplane, server, workdir, example), example.observed_path
    for space, flavour in ENVIRONMENTS:
        workdir = tmp_path / f"{space}-{flavour}"
        workdir.mkdir()
        renderer = _environment(crossplane, server, workdir, space, flavour)
        environments.converge(renderer.reconcile)
        for number, observed in enumerate(list(renderer.inputs)):
            yield f"{space}-{flavour} round {number}", renderer, observed


def test_hack_render_prints_what_crossplane_render_prints(
    crossplane: CrossplaneCLI, debug_server: Server, tmp_path: Path
) -> None:
    """The two renderers on the same inputs: same XR, composed resources and results.

    Compared as parsed YAML documents, so only the text differs legitimately (key order,
    quoting, line folding); nothing else is normalised. hack/render.py does differ on what
    render cannot take (observed connection details), which no input here has.
    """
    compared = 0
    for case, renderer, observed in _same_inputs(crossplane, debug_server, tmp_path):
        real = renderer.render(observed).documents()
        ours = renderer.hack_render(observed)
        assert ours == real, f"{case}: hack/render.py differs from crossplane render"
        compared += 1
    # Every environment reaches its fixed point in 4 rounds in each flavour (Disconnected
    # without its Argo CD clusters: the ControlPlane Objects start reading the kubeconfig).
    assert compared == len(EXAMPLES) + 4 * len(ENVIRONMENTS)


# --- beta validate --------------------------------------------------------------------------


def test_validate_rejects_what_the_schemas_and_cel_rules_forbid(
    crossplane: CrossplaneCLI, debug_server: Server, tmp_path: Path
) -> None:
    """The validate step bites: an XR breaking an XRD CEL rule, a resource of a wrong type."""
    rendered = _example(crossplane, debug_server, tmp_path, EXAMPLES[0]).render(
        EXAMPLES[0].observed_path
    )
    rendered.xr["spec"]["space"].pop(
        "name"
    )  # Cloud needs a name (an x-kubernetes-validations rule)
    team = next(c for c in rendered.composed if c["kind"] == "Team")
    team["spec"]["forProvider"]["name"] = 42
    broken = write_yaml(tmp_path / "broken.yaml", [rendered.xr, team])

    proc = crossplane.validate([XRDS["namespaced"], reference_root()], [broken], check=False)
    assert proc.returncode != 0
    assert "name is required for Cloud spaces" in proc.stdout, proc.stdout
    assert "spec.forProvider.name: Invalid value" in proc.stdout, proc.stdout
    assert "2 failure cases" in proc.stdout


# --- xpkg build -----------------------------------------------------------------------------


def _examples_root(tmp_path: Path) -> Path:
    """The examples the release workflow ships in both packages, collected by its own step."""
    workflow = yaml.safe_load(RELEASE_WORKFLOW.read_text())
    steps = [s for job in workflow["jobs"].values() for s in job.get("steps", [])]
    commands = {s["run"] for s in steps if s.get("name") == COLLECT_EXAMPLES_STEP}
    assert len(commands) == 1, commands  # every package job collects the same examples
    (tmp_path / "example").symlink_to(EXAMPLE)
    subprocess.run(["bash", "-c", commands.pop()], cwd=tmp_path, check=True, timeout=30)
    return tmp_path / "build" / "examples"


def _xpkg_layers(path: Path) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """A built package (an OCI image tarball) as {layer label: {file: YAML documents}}."""
    layers: dict[str, dict[str, list[dict[str, Any]]]] = {}
    with tarfile.open(path) as image:

        def read(name: str) -> bytes:
            member = image.extractfile(name)
            assert member is not None, name
            return member.read()

        manifest = json.loads(read("manifest.json"))[0]
        labels = json.loads(read(manifest["Config"]))["config"]["Labels"]
        for layer in manifest["Layers"]:
            label = labels[f"io.crossplane.xpkg:sha256:{layer.removesuffix('.tar.gz')}"]
            with tarfile.open(fileobj=io.BytesIO(read(layer))) as files:
                layers[label] = {
                    m.name: [d for d in yaml.safe_load_all(files.extractfile(m) or b"") if d]
                    for m in files.getmembers()
                    if m.isfile()
                }
    return layers


def _documents(*paths: Path) -> list[dict[str, Any]]:
    return [d for p in paths for d in hack_render.load_yaml_documents(p)]


def _zero(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_zero(v) for v in value.values())
    return not value


def _as_packed(obj: dict[str, Any]) -> dict[str, Any]:
    """An object as xpkg build packs it.

    The one legitimate difference: build decodes each object into its Go type and encodes it
    again, which adds the type's zero-value `status` (e.g. a CRD's empty acceptedNames).
    """
    return {k: v for k, v in obj.items() if k != "status" or not _zero(v)}


@pytest.mark.parametrize(
    ("root", "contents"),
    [
        ("package", ["crossplane.yaml", "input/upboundenvironment.fn.crossplane.io_inputs.yaml"]),
        (
            "configuration",
            [
                "crossplane.yaml",
                "apis/upboundenvironment/composition.yaml",
                "apis/upboundenvironment/definition.yaml",
                "apis/controlplanegroup/composition.yaml",
                "apis/controlplanegroup/definition.yaml",
            ],
        ),
    ],
)
def test_a_package_builds_with_its_crds_and_examples(
    crossplane: CrossplaneCLI, tmp_path: Path, root: str, contents: list[str]
) -> None:
    """xpkg build lints and packs: the base layer holds the meta file and every object
    (the Function's input CRD; the Configuration's XRD and Composition), the examples layer
    the example XRs, and no runtime image is embedded (that needs Docker)."""
    examples = _examples_root(tmp_path)
    package = crossplane.xpkg_build(ROOT / root, examples, tmp_path / f"{root}.xpkg")

    layers = _xpkg_layers(package)
    assert set(layers) == {"base", "upbound"}
    base = layers["base"]["package.yaml"]
    meta, *objects = _documents(*(ROOT / root / c for c in contents))
    assert base[0] == meta
    key = lambda d: (d["kind"], d["metadata"]["name"])  # noqa: E731
    assert sorted(map(_as_packed, base[1:]), key=key) == sorted(objects, key=key)
    shipped = layers["upbound"][".up/examples.yaml"]
    assert shipped == _documents(*sorted(examples.iterdir()))
    assert {d["kind"] for d in shipped} == {"UpboundEnvironment"}
