"""A newcomer's walk through the README and example/getting-started/, checked file by file.

Following the docs step by step must leave no mismatch, so this reads what a newcomer reads:

- the shell commands in the README's and docs/' ```shell blocks, and the ones the
  getting-started manifests show in their comments;
- the Markdown links and the paths in inline code;
- the getting-started manifests and the example XRs (with the Composition's input).

It checks that every file a command or link names exists; that every Secret the examples and
ProviderConfigs read is one a step creates, with the key they read; that the examples'
ProviderConfigs and namespaces are the ones the steps create; that package names and tags
agree; that kubectl's resource names are the XRD's; that every Crossplane CLI command is one
docs/cli-versions.md lists; and that constraints.txt pins what .venv holds.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import re
import shlex
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from function.resolve import parse

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
EXAMPLE = ROOT / "example"
GETTING_STARTED = EXAMPLE / "getting-started"
COMPOSITION = EXAMPLE / "composition.yaml"
XRD = EXAMPLE / "xrd.yaml"
REQUIRED_RESOURCES = EXAMPLE / "required-resources.yaml"
PACKAGE_REPOSITORIES = (
    "xpkg.upbound.io/upbound/function-upbound-environment",
    "xpkg.upbound.io/upbound/configuration-upbound-environment",
)
# Top-level folders a documented path may start with.
PATH_ROOTS = ("example", "scripts", "docs", "configuration", "package", "hack", "bench", "tests",
              "function", ".github")  # fmt: skip
# The Crossplane CLI commands docs/cli-versions.md lists, with the versions that take them.
CLI_COMMANDS = {
    ("beta", "render"): "v1.14 to v1.16",
    ("render",): "v1.17 and later (hidden alias from v2.3)",
    ("composition", "render"): "v2.3 and later",
    ("beta", "trace"): "v1.14 to v2.2",
    ("resource", "trace"): "v2.3 and later",
    ("beta", "validate"): "v1.15 to v2.2",
    ("resource", "validate"): "v2.3 and later",
    ("xpkg", "install"): "all",
    ("xpkg", "build"): "all",
    ("xpkg", "push"): "all",
    ("version",): "all",
}


@dataclass(frozen=True)
class Command:
    """One shell command as a newcomer would type it, and where it is written."""

    words: tuple[str, ...]
    where: str

    def after(self, flag: str) -> str | None:
        """The value of `flag VALUE` or `flag=VALUE`, if given."""
        for i, word in enumerate(self.words):
            if word == flag and i + 1 < len(self.words):
                return self.words[i + 1]
            if word.startswith(flag + "="):
                return word.split("=", 1)[1]
        return None

    def positional(self) -> list[str]:
        """The words that are neither flags nor flag values (flags with values use `=` or are
        listed in VALUE_FLAGS)."""
        out, skip = [], False
        for word in self.words:
            if skip:
                skip = False
            elif word in VALUE_FLAGS:
                skip = True
            elif not word.startswith("-"):
                out.append(word)
        return out


VALUE_FLAGS = frozenset({"-n", "-f", "-o", "-e", "-c", "--type", "--patch-file", "--from-file",
                         "--from-literal", "-l", "-p"})  # fmt: skip


# --- Reading what a newcomer reads ------------------------------------------------------------


def markdown_files() -> list[Path]:
    """The README and every page in docs/."""
    return [README, *DOCS]


def shell_lines(text: str) -> Iterator[str]:
    """Lines of shell, continuation lines joined."""
    pending = ""
    for line in text.splitlines():
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        yield pending + line
        pending = ""


def commands_in(text: str, where: str) -> Iterator[Command]:
    """Each command of a shell text; `a | b` and `a && b` are two commands."""
    quoted = ""  # a quoted argument that spans lines, e.g. python -c '...'
    for line in shell_lines(text):
        try:
            words = shlex.split(quoted + line, comments=True)
        except ValueError:  # the quote closes on a later line
            quoted += line + "\n"
            continue
        quoted = ""
        current: list[str] = []
        for word in [*words, "|"]:
            if word in {"|", "&&", ";"}:
                if current:
                    yield Command(tuple(current), where)
                current = []
            else:
                current.append(word)


@functools.cache
def markdown_commands() -> tuple[Command, ...]:
    """Every command in a ```shell block of the README and docs/."""
    found: list[Command] = []
    for path in markdown_files():
        for block in re.findall(r"```shell\n(.*?)```", path.read_text(), re.DOTALL):
            found.extend(commands_in(block, path.relative_to(ROOT).as_posix()))
    return tuple(found)


@functools.cache
def manifest_commands() -> tuple[Command, ...]:
    """Every command the getting-started manifests show in their comments."""
    found: list[Command] = []
    for path in yaml_files(GETTING_STARTED):
        comments = [
            line.lstrip()[1:].strip() for line in path.read_text().splitlines()
            if line.lstrip().startswith("#")
        ]  # fmt: skip
        found.extend(commands_in(command_lines(comments), path.relative_to(ROOT).as_posix()))
    return tuple(found)


SHELL_PROGRAMS = frozenset({"kubectl", "crossplane", "helm", "up"})


def command_lines(comments: list[str]) -> str:
    """The comment lines that are commands, with their continuation lines."""
    lines, inside = [], False
    for line in comments:
        starts = line.split(" ", 1)[0] in SHELL_PROGRAMS or line.startswith("KUBECONFIG=")
        if starts or inside:
            lines.append(line)
        inside = (starts or inside) and line.endswith("\\")
    return "\n".join(lines)


def all_commands() -> list[Command]:
    """Every command a newcomer is shown."""
    return [*markdown_commands(), *manifest_commands()]


def commands_of(program: str, *subcommand: str) -> list[Command]:
    """The commands that run `program subcommand...`, with any `VAR=value` prefix dropped."""
    out = []
    for command in all_commands():
        words = [w for w in command.words if not re.fullmatch(r"[A-Z_]+=\S*", w)]
        if words and words[0] == ".tools/crossplane":  # the CLI scripts/render builds
            words[0] = "crossplane"
        if words[: 1 + len(subcommand)] == [program, *subcommand]:
            out.append(Command(tuple(words), command.where))
    return out


def yaml_files(root: Path) -> list[Path]:
    """Every YAML file under root."""
    return sorted(p for p in root.rglob("*.yaml") if p.is_file())


@functools.cache
def documents(path: Path) -> tuple[dict[str, Any], ...]:
    """The YAML documents of a file."""
    return tuple(d for d in yaml.safe_load_all(path.read_text()) if d)


def manifests(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Every Kubernetes manifest under root (not Helm values)."""
    return [(p, d) for p in yaml_files(root) for d in documents(p) if "apiVersion" in d]


def example_xrs() -> list[Path]:
    """The example XRs."""
    return [p for p in sorted(EXAMPLE.glob("xr*.yaml")) if not p.name.startswith("xrd")]


@functools.cache
def environment(path: Path) -> Any:
    """An example XR resolved with the Composition's input, as the function sees it."""
    (step,) = documents(COMPOSITION)[0]["spec"]["pipeline"]
    return parse(documents(path)[0], step["input"])


def xrd() -> dict[str, Any]:
    """The Crossplane v2 XRD."""
    return documents(XRD)[0]


# --- Files ------------------------------------------------------------------------------------


def path_like(word: str) -> str | None:
    """The repository path a word names, if it names one a clone has (not what git ignores)."""
    word = word.split("=", 1)[-1].rstrip(".,:;")
    if not word.startswith(tuple(f"{root}/" for root in PATH_ROOTS)) or "<" in word:
        return None
    ignored = (ROOT / ".gitignore").read_text().split()
    if any(word.rstrip("/") == i.rstrip("/") or word.startswith(i) for i in ignored):
        return None
    return word


def test_every_file_a_command_names_exists() -> None:
    missing = []
    for command in all_commands():
        for word in (part for w in command.words for part in w.split(",")):
            path = path_like(word)
            if path and not any(ROOT.glob(path)):
                missing.append(f"{command.where}: {' '.join(command.words)}: {path}")
    assert missing == []


def test_every_script_and_module_a_command_runs_exists() -> None:
    problems = []
    for command in all_commands():
        program = command.words[0]
        if program.startswith("scripts/"):
            script = ROOT / program
            if not (script.is_file() and script.stat().st_mode & 0o111):
                problems.append(f"{command.where}: {program} is not an executable script")
        if program.startswith(".venv/bin/") and "-m" in command.words:
            module = command.after("-m") or ""
            if importlib.util.find_spec(module) is None:
                problems.append(f"{command.where}: python -m {module}: no such module")
    assert problems == []
    assert any(c.words[:3] == (".venv/bin/python", "-m", "function") for c in all_commands())


@pytest.mark.parametrize("doc", markdown_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_link_and_inline_path_of_a_page_exists(doc: Path) -> None:
    text = doc.read_text()
    code = re.findall(r"`([^`\s]+)`", text)
    text = re.sub(r"```.*?```|`[^`]*`", "", text, flags=re.DOTALL)  # links, not code
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    links += re.findall(r"^\[[^\]]+\]:\s*(\S+)", text, re.MULTILINE)
    missing = [t for t in links if "://" not in t and not (doc.parent / t).exists()]
    inline = [path_like(word) for word in code]
    missing += [p for p in inline if p and not (ROOT / p).exists()]
    assert missing == []


def slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("doc", markdown_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_anchor_of_a_page_is_one_of_its_headings(doc: Path) -> None:
    text = doc.read_text()
    headings = {slug(h) for h in re.findall(r"^#+ (.*)$", text, re.MULTILINE)}
    anchors = re.findall(r"\]\(#([^)]+)\)", re.sub(r"```.*?```", "", text, flags=re.DOTALL))
    assert [a for a in anchors if a not in headings] == []


def test_docs_index_links_every_page() -> None:
    index = (ROOT / "docs" / "README.md").read_text()
    linked = set(re.findall(r"\]\(([^)#\s]+)\)", index))
    assert {p.name for p in DOCS if p.name != "README.md"} <= linked
    readme = README.read_text()
    assert "(docs/README.md)" in readme


def test_getting_started_table_names_files_of_its_steps() -> None:
    section = README.read_text().split("\n## Getting started\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d)\. [^|]*\|(.*)$", section, re.MULTILINE)
    assert [step for step, _ in rows] == ["1", "2", "3", "3", "4", "5"]
    for step, cells in rows:
        for name in re.findall(r"`(?:example/)?([\w.-]+\.yaml)`", cells):
            found = [p for p in yaml_files(EXAMPLE) if p.name == name]
            assert found, f"step {step}: no {name} under example/"
            for path in (p for p in found if p.is_relative_to(GETTING_STARTED)):
                assert path.read_text().startswith(f"# Step {step}"), path


# --- Secrets ----------------------------------------------------------------------------------


def created_secrets() -> dict[tuple[str, str], set[str]]:
    """(namespace, name) -> keys of every Secret the steps create, by manifest or kubectl."""
    created: dict[tuple[str, str], set[str]] = {}
    for _, doc in manifests(GETTING_STARTED):
        if doc["kind"] == "Secret":
            meta = doc["metadata"]
            keys = {*doc.get("data", {}), *doc.get("stringData", {})}
            created.setdefault((meta["namespace"], meta["name"]), set()).update(keys)
    for command in commands_of("kubectl"):
        words = command.positional()
        if words[1:4] == ["create", "secret", "generic"]:
            keys = {
                value.split("=", 1)[0]
                for flag in ("--from-literal", "--from-file")
                for value in values_of(command, flag)
            }
            key = (command.after("-n") or "default", words[4])
            created.setdefault(key, set()).update(keys)
    return created


def values_of(command: Command, flag: str) -> list[str]:
    """Every value given to a repeatable flag."""
    words = command.words
    values = [words[i + 1] for i, w in enumerate(words[:-1]) if w == flag]
    return values + [w.split("=", 1)[1] for w in words if w.startswith(flag + "=")]


def secret_refs(node: Any, where: str) -> Iterator[tuple[str, tuple[str, str, str]]]:
    """Every secretRef under a manifest: (where, (namespace, name, key))."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "secretRef":
                yield where, (value["namespace"], value["name"], value["key"])
            else:
                yield from secret_refs(value, where)
    elif isinstance(node, list):
        for item in node:
            yield from secret_refs(item, where)


def read_secrets() -> list[tuple[str, tuple[str, str, str]]]:
    """Every Secret the examples and getting-started ProviderConfigs read: (where, ref)."""
    refs: list[tuple[str, tuple[str, str, str]]] = []
    for path, doc in manifests(GETTING_STARTED):
        refs.extend(secret_refs(doc, path.relative_to(ROOT).as_posix()))
    for path in example_xrs():
        env = environment(path)
        if env.uses_token:
            ref = env.argocd.token_secret_ref
            refs.append((path.name, (ref.namespace, ref.name, ref.key)))
    return refs


def test_every_secret_the_examples_read_is_one_a_step_creates() -> None:
    created = created_secrets()
    assert ("crossplane-system", "upbound-credentials") in created
    missing = [
        f"{where}: Secret {ns}/{name}, key {key}"
        for where, (ns, name, key) in read_secrets()
        if key not in created.get((ns, name), set())
    ]
    assert missing == []


def test_one_token_secret_name_everywhere() -> None:
    tokens = {ref[:2] for _, ref in read_secrets() if ref[2] == "token"}
    assert tokens == {("crossplane-system", "upbound-credentials")}


def test_render_gets_the_secret_each_example_reads() -> None:
    supplied = {
        (d["metadata"]["namespace"], d["metadata"]["name"]): set(d.get("data", {}))
        for d in documents(REQUIRED_RESOURCES)
    }
    created = created_secrets()
    for ns_name, keys in supplied.items():
        assert keys <= created.get(ns_name, set()), f"{ns_name} is not a Secret a step creates"
    for where, (ns, name, key) in read_secrets():
        if where.startswith("xr"):
            assert key in supplied.get((ns, name), set()), where


# --- ProviderConfigs and namespaces -----------------------------------------------------------


def test_every_example_uses_provider_configs_its_flavour_creates() -> None:
    for path in example_xrs():
        env = environment(path)
        flavour = "namespaced" if env.xr_namespace else "cluster-scoped"
        configs = manifests(GETTING_STARTED / flavour)
        defined = {(doc["kind"], doc["metadata"]["name"]) for _, doc in configs}
        kind = env.provider_config_kind if env.xr_namespace else "ProviderConfig"
        names = (env.provider_config_space, env.provider_config_argocd, env.provider_config_upbound)
        assert {(kind, name) for name in names} <= defined, path.name


def test_namespaces_the_examples_use_are_the_ones_the_steps_use() -> None:
    created = {c.positional()[3] for c in commands_of("kubectl", "create", "namespace")}
    argocd_cm = next(d for _, d in manifests(GETTING_STARTED) if d["kind"] == "ConfigMap")
    argocd_commands = [c for c in all_commands() if "argocd-cm" in c.words or "helm" in c.words]
    assert argocd_commands
    for path in example_xrs():
        env = environment(path)
        if env.xr_namespace:
            assert env.xr_namespace in created, path.name
        assert env.argocd.namespace == argocd_cm["metadata"]["namespace"], path.name
        for command in argocd_commands:
            assert command.after("-n") == env.argocd.namespace, command


# --- Packages ---------------------------------------------------------------------------------


def dns_label(repository: str) -> str:
    """The name `crossplane xpkg install` and Crossplane's dependency manager give a package:
    its repository path, '/' as '-' (xpkg.ToDNSLabel of the reference's repository)."""
    return repository.split("/", 1)[1].replace("/", "-")


def test_package_references_name_this_version() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    pattern = re.compile(r"(xpkg\.upbound\.io/upbound/[\w-]+-upbound-environment):(\S+?)[`\s\"]")
    files = [*markdown_files(), *yaml_files(EXAMPLE), *yaml_files(ROOT / "configuration")]
    seen = set()
    for path in files:
        for repository, tag in pattern.findall(path.read_text() + "\n"):
            assert repository in PACKAGE_REPOSITORIES, f"{path}: {repository}"
            assert tag == f"v{version}", f"{path}: {repository}:{tag}"
            seen.add(repository)
    assert seen == set(PACKAGE_REPOSITORIES)


def test_xpkg_install_and_the_manifest_install_the_same_configuration() -> None:
    (manifest,) = [d for _, d in manifests(GETTING_STARTED) if d["kind"] == "Configuration"]
    installs = commands_of("crossplane", "xpkg", "install")
    assert installs
    for command in installs:
        kind, package = command.positional()[3:5]
        assert kind == "configuration", command
        assert package == manifest["spec"]["package"], command
        name = command.after("--name") or dns_label(package.rsplit(":", 1)[0])
        assert manifest["metadata"]["name"] == name


# --- kubectl and the Crossplane CLI -----------------------------------------------------------


def test_kubectl_names_resolve_to_the_xrd() -> None:
    names = xrd()["spec"]["names"]
    group, plural = xrd()["spec"]["group"], names["plural"]
    accepted = {names["kind"].lower(), plural, f"{plural}.{group}"}
    composition = documents(COMPOSITION)[0]["metadata"]["name"]
    seen = 0
    for command in commands_of("kubectl"):
        words = command.positional()
        for word in words:
            if "upboundenvironment" in word and not word.startswith("upboundenvironment.fn."):
                seen += 1
                assert word.split("/", 1)[0] in accepted, command
        if words[1:3] == ["delete", "compositeresourcedefinition"]:
            assert words[3] == xrd()["metadata"]["name"] == f"{plural}.{group}", command
        if words[1:3] == ["delete", "composition"]:
            assert words[3] == composition, command
    assert seen >= 3
    assert plural == "upboundenvironments"


def test_commands_that_name_an_xr_name_an_example_xr() -> None:
    xrs = {(environment(p).xr_namespace, environment(p).xr_name) for p in example_xrs()}
    named = 0
    for command in [*commands_of("kubectl"), *commands_of("crossplane")]:
        words = command.positional()
        for i, word in enumerate(words[:-1]):
            if word == xrd()["spec"]["names"]["kind"].lower():
                named += 1
                assert (command.after("-n"), words[i + 1]) in xrs, command
    assert named


def test_every_crossplane_command_is_one_the_cli_docs_list() -> None:
    cli_doc = (ROOT / "docs" / "cli-versions.md").read_text()
    for subcommand in CLI_COMMANDS:
        assert f"`crossplane {' '.join(subcommand)}" in cli_doc, subcommand
    workflow_runs = [
        " ".join(step.get("run", "").split())
        for path in sorted((ROOT / ".github").rglob("*.yaml"))
        for job in (documents(path)[0].get("jobs") or {}).values()
        for step in job.get("steps", [])
    ]
    commands = [*commands_of("crossplane")]
    commands += [
        Command(tuple(shlex.split(run.split("crossplane ", 1)[1].split("&&")[0])), "workflow")
        for run in workflow_runs
        if run.startswith("crossplane ")
    ]
    assert commands
    for command in commands:
        words = command.positional()
        words = words[1:] if words[0] == "crossplane" else words
        assert any(tuple(words[: len(s)]) == s for s in CLI_COMMANDS), command
        # What a newcomer is told to run works with today's CLI: no `beta` commands.
        if command.where == "README.md" or command.where.startswith("example/"):
            assert words[0] != "beta", command


# --- Versions ---------------------------------------------------------------------------------


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def constraints() -> dict[str, str]:
    """constraints.txt: name -> pinned version."""
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonical(name)] = version
    return pins


def test_constraints_pin_every_dependency_the_way_pyproject_does() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    pins = constraints()
    for requirement in wanted:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(.*)", requirement)
        assert match, requirement
        name, spec = canonical(match[1]), match[2]
        assert name in pins, f"{requirement} is not in constraints.txt (run scripts/lock)"
        if spec.startswith("=="):
            assert pins[name] == spec[2:], f"{requirement} != constraints.txt's {pins[name]}"


def test_venv_holds_exactly_the_constrained_versions() -> None:
    installed = {
        canonical(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()
    }
    differs = {
        name: (version, installed.get(name))
        for name, version in constraints().items()
        if installed.get(name) != version
    }
    assert differs == {}, "run scripts/setup dev (constraints.txt changed)"
