"""The service image, checked statically (no Docker engine here): what it is built from, what goes
into its build context, how it runs. A real `docker build` additionally runs the Dockerfile's own
check that the installed package carries the model."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXACT_IMAGE = re.compile(r"^[\w.\-/]+:\d+\.\d+\.\d+[\w.\-]*(@sha256:[0-9a-f]{64})?$")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def _instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    lines = [line.strip() for line in joined.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def _stages() -> list[Stage]:
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for keyword, rest in _instructions((ROOT / "Dockerfile").read_text()):
        if keyword == "ARG" and not stages and "=" in rest:
            name, default = rest.split("=", 1)
            args[name] = default
        elif keyword == "FROM":
            parts = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m[1] or m[2], m[0]), rest).split()
            stages.append(Stage(parts[0], parts[2] if len(parts) > 2 and parts[1].upper() == "AS" else None))
        elif stages:
            stages[-1].instructions.append((keyword, rest))
    return stages


def _exec_form(args: str) -> list[str]:
    """The argument list of an exec-form instruction (shell form is split like a shell would)."""
    return json.loads(args) if args.lstrip().startswith("[") else shlex.split(args)


def _dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore matching for the pattern kinds this repository uses."""
    for pattern in patterns:
        pattern = pattern.strip("/")  # Docker cleans patterns like paths: "otel/" is "otel"
        regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        parts = path.split("/")
        if any(re.fullmatch(regex, "/".join(parts[: i + 1])) for i in range(len(parts))):
            return True
    return False


def _packages(include: list[str]) -> set[str]:
    """What setuptools' packages.find discovers: directories with __init__.py matching ``include``."""
    found = {
        init.parent.relative_to(ROOT).as_posix().replace("/", ".")
        for init in ROOT.rglob("__init__.py")
        if ".venv" not in init.parts
    }
    return {pkg for pkg in found if any(fnmatch.fnmatchcase(pkg, pattern) for pattern in include)}


@pytest.fixture(scope="module")
def context_files() -> set[str]:
    """Repository files `docker build .` sends as its context."""
    patterns = [
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    assert not any(p.startswith("!") for p in patterns), "exceptions are not modelled here: extend _dockerignored"
    files = {
        p.relative_to(ROOT).as_posix()
        for p in ROOT.rglob("*")
        if p.is_file() and ".venv" not in p.parts and ".git" not in p.parts
    }
    return {f for f in files if not _dockerignored(f, patterns)}


def test_every_stage_starts_from_an_exactly_pinned_image() -> None:
    stages = _stages()
    assert len(stages) >= 2, "a build stage and a slim runtime stage"
    for stage in stages:
        assert EXACT_IMAGE.match(stage.base), f"FROM {stage.base} is not an exact version"


def test_runtime_runs_as_an_unprivileged_user() -> None:
    users = _stages()[-1].all("USER")
    assert users, "the runtime stage never leaves root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"USER {users[-1]}"
    assert user.isdigit(), "a numeric uid lets Kubernetes' runAsNonRoot check it"


def _constraints() -> dict[str, str]:
    """constraints.txt as ``{normalized name: exact version}``."""
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt pins exactly: {line}"
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_package_and_pinned_dependencies_are_installed() -> None:
    build = "\n".join(_stages()[0].all("RUN"))
    assert "pyproject.toml" in build and "pip install -c constraints.txt -r" in build, (
        "dependencies from pyproject.toml at constraints.txt's versions, in their own layer"
    )
    assert any("constraints.txt" in c for c in _stages()[0].all("COPY")), "constraints.txt is in the dependency layer"
    assert re.search(r"pip install --no-deps \.", build), "the package itself is installed (pip install .)"
    assert "DEFAULT_MODEL_PATH.is_file()" in build, "the build fails if the installed package lacks the model"
    runtime = _stages()[-1]
    assert any("--from=build" in c and "/opt/venv" in c for c in runtime.all("COPY")), "the runtime gets the built venv"
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = _constraints()
    names = [re.sub(r"[-_.]+", "-", re.match(r"[\w.\-]+", d)[0]).lower() for d in deps]  # type: ignore[index]
    assert all(name in pins for name in names), f"every image dependency has an exact version: {set(names) - set(pins)}"


def test_make_installs_with_the_constraints() -> None:
    makefile = (ROOT / "Makefile").read_text()
    installs = [line for line in makefile.splitlines() if "pip install" in line and "-e " in line]
    assert installs and all("-c " in line for line in installs), installs


def test_it_runs_the_service_and_probes_readiness() -> None:
    runtime = _stages()[-1]
    cmd = _exec_form(runtime.all("CMD")[-1])
    assert cmd[:3] == ["python", "-m", "service"]
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0", "reachable from outside the container"
    port = cmd[cmd.index("--port") + 1]
    assert runtime.all("EXPOSE") == [port] == ["8000"]
    healthcheck = runtime.all("HEALTHCHECK")[-1]
    assert re.search(rf"127\.0\.0\.1:{port}/health/ready", healthcheck), healthcheck


def test_build_context_holds_the_package_and_no_secrets_or_dev_files(context_files: set[str]) -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    repo_packages = _packages(config["packages"]["find"]["include"])
    context_dirs = {str(Path(f).parent).replace("/", ".") for f in context_files if f.endswith("__init__.py")}
    assert repo_packages <= context_dirs, f"packages missing from the build context: {sorted(repo_packages - context_dirs)}"
    modules = {p.relative_to(ROOT).as_posix() for pkg in repo_packages for p in (ROOT / pkg.replace(".", "/")).glob("*.py")}
    assert modules <= context_files, f"modules missing from the build context: {sorted(modules - context_files)}"
    for package, globs in config["package-data"].items():
        for glob in globs:
            matched = {p.relative_to(ROOT).as_posix() for p in (ROOT / package).glob(glob)}
            assert matched and matched <= context_files, f"package data {package}/{glob} missing from the context"
    assert {"pyproject.toml", "README.md"} <= context_files, "pip install . needs both (readme = README.md)"
    assert not any(f == ".env" or f.startswith((".env.", "tests/", ".git/")) for f in context_files)
