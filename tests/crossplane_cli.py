"""The real crossplane CLI, pinned in hack/crossplane/go.mod and built by hack/crossplane/build.

Tests get it from the session fixture `crossplane` (tests/conftest.py), which builds it once
(a few minutes the first time, then reused) and skips, naming the build script, only when Go
is not installed.

    rendered = crossplane.render(xr_file, target=server.address, observed=..., required=[...])
    rendered.xr, rendered.composed, rendered.results      # what `crossplane render -r` printed
    crossplane.validate([xrd, crds_dir()], [rendered_file])  # `crossplane beta validate`
    crossplane.xpkg_build(ROOT / "package", examples, package_file)
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "hack" / "crossplane" / "build"
VALIDATE_CACHE = ROOT / ".tools" / "validate-cache"
COMPOSITION = ROOT / "example" / "composition.yaml"
FUNCTIONS = ROOT / "example" / "functions.yaml"
DEVELOPMENT_TARGET = "render.crossplane.io/runtime-development-target"
RESULT = ("render.crossplane.io/v1beta1", "Result")
TIMEOUT = 120  # a hang guard for one CLI run, not a performance bound


@dataclass
class CliRender:
    """What `crossplane render -r` printed: the XR, composed resources, then Results."""

    xr: dict[str, Any]
    composed: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    stdout: str = ""

    @classmethod
    def parse(cls, stdout: str) -> CliRender:
        """Split render's YAML stream (the XR comes first, Results last)."""
        xr, *rest = [d for d in yaml.safe_load_all(stdout) if d]
        rendered = cls(xr, stdout=stdout)
        for doc in rest:
            kind = (doc.get("apiVersion"), doc.get("kind"))
            (rendered.results if kind == RESULT else rendered.composed).append(doc)
        return rendered

    def documents(self) -> list[dict[str, Any]]:
        """Everything render printed, in order."""
        return [self.xr, *self.composed, *self.results]


@dataclass(frozen=True)
class CrossplaneCLI:
    """The built `crossplane` binary."""

    binary: Path

    def run(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the CLI; with `check`, a non-zero exit fails the test with its output."""
        proc = subprocess.run(
            [self.binary, *map(str, args)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"crossplane {' '.join(map(str, args))} exited {proc.returncode}:\n"
                f"{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def render(
        self,
        xr: Path,
        *,
        target: str,
        observed: Path | None = None,
        required: Sequence[Path] = (),
        full_xr: bool = False,
        composition: Path = COMPOSITION,
    ) -> CliRender:
        """`crossplane render -r` of the example Composition, against the function at `target`.

        example/functions.yaml uses the Development runtime; `-a` points it at `target`.
        """
        args: list[str | Path] = ["render", "-r", xr, composition, FUNCTIONS]
        args += ["-a", f"{DEVELOPMENT_TARGET}={target}"]
        args += ["-o", observed] if observed is not None else []
        args += [a for path in required for a in ("-e", path)]
        args += ["-x"] if full_xr else []
        return CliRender.parse(self.run(*args).stdout)

    def validate(
        self, extensions: Sequence[Path], resources: Sequence[Path], *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """`crossplane beta validate`, offline, failing on any error or missing schema.

        The cache hack/crossplane/build filled holds Crossplane's own CRDs, which validate
        would otherwise download; nothing else is fetched, since every extension is a file.
        """
        return self.run(
            "beta",
            "validate",
            f"--cache-dir={VALIDATE_CACHE}",
            "--error-on-missing-schemas",
            ",".join(map(str, extensions)),
            ",".join(map(str, resources)),
            check=check,
        )

    def xpkg_build(self, package_root: Path, examples_root: Path, package_file: Path) -> Path:
        """`crossplane xpkg build` (which runs the package linters) without a runtime image."""
        self.run(
            "xpkg",
            "build",
            f"--package-root={package_root}",
            f"--examples-root={examples_root}",
            f"--package-file={package_file}",
        )
        return package_file


def build() -> CrossplaneCLI:
    """Build (or reuse) the pinned CLI; skip the calling tests only when Go is not installed."""
    proc = subprocess.run([BUILD], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        if shutil.which("go") is None:
            pytest.skip(
                "the real crossplane CLI tests need Go to build the CLI "
                f"(hack/crossplane/build): {proc.stderr.strip()}"
            )
        raise AssertionError(f"hack/crossplane/build failed:\n{proc.stderr}")
    return CrossplaneCLI(Path(proc.stdout.strip()))


def write_yaml(path: Path, documents: Sequence[Any]) -> Path:
    """Write documents as one YAML stream (what render's -o and -e read)."""
    path.write_text(yaml.safe_dump_all(documents, sort_keys=True))
    return path
