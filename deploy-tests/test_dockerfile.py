"""The Dockerfile, parsed and checked statically (no Docker engine runs here): a cached
dependency layer, a small non-root runtime that needs no writable root filesystem, one
image for every `rex` subcommand. hadolint lints it separately."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from fnmatch import fnmatch

import pytest

from conftest import ROOT

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


@dataclass
class Instruction:
    op: str
    args: str
    flags: list[str] = field(default_factory=list)

    def exec_form(self) -> list[str] | None:
        try:
            value = json.loads(self.args)
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, list) else None


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def ops(self, op: str) -> list[Instruction]:
        return [i for i in self.instructions if i.op == op]


def parse(text: str) -> tuple[list[str], dict[str, str], list[Stage]]:
    """(parser directives, global ARG defaults, stages) of a Dockerfile."""
    directives, lines = [], text.splitlines()
    for line in lines:
        m = re.match(r"#\s*(\w+)\s*=\s*(.+)", line)
        if not m:
            break
        directives.append(f"{m[1].lower()}={m[2].strip()}")
    logical, buf = [], ""
    for line in lines:
        stripped = line.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue  # comment lines inside a continuation are dropped by Docker
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        logical.append((buf + line).strip())
        buf = ""
    assert not buf, "Dockerfile ends inside a line continuation"

    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for entry in logical:
        op, _, rest = entry.partition(" ")
        op, rest = op.upper(), rest.strip()
        flags = []
        while rest.startswith("--"):
            flag, _, rest = rest.partition(" ")
            flags.append(flag)
            rest = rest.strip()
        if op == "FROM":
            parts = rest.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base=parts[0], name=name))
        elif not stages:
            assert op == "ARG", f"{op} before the first FROM"
            key, _, default = rest.partition("=")
            global_args[key] = default
        else:
            stages[-1].instructions.append(Instruction(op, rest, flags))
    return directives, global_args, stages


@pytest.fixture(scope="module")
def dockerfile():
    return parse(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def stages(dockerfile) -> dict[str, Stage]:
    _, _, stages = dockerfile
    return {s.name: s for s in stages}


@pytest.fixture(scope="module")
def runtime(dockerfile) -> Stage:
    return dockerfile[2][-1]


def expand(text: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m[1] or m[2]], text)


def run_commands(stage: Stage) -> list[str]:
    return [i.args for i in stage.ops("RUN")]


def test_buildkit_syntax_is_pinned(dockerfile):
    directives, _, _ = dockerfile
    assert any(re.fullmatch(r"syntax=docker/dockerfile:1(\.\d+)*", d) for d in directives)


def test_stages_are_chef_planner_builder_runtime(dockerfile):
    _, _, stages = dockerfile
    names = [s.name for s in stages]
    assert names[:3] == ["chef", "planner", "builder"]
    assert names[-1] == "runtime"
    assert stages[1].base == "chef" and stages[2].base == "chef"


def test_every_base_image_is_pinned(dockerfile):
    _, args, stages = dockerfile
    names = {s.name for s in stages}
    for stage in stages:
        if stage.base in names:
            continue
        image = expand(stage.base, args)
        assert "@sha256:" in image or re.search(r":[\w.-]+$", image), f"{image}: no tag"
        assert not image.endswith(":latest"), image


def test_the_toolchain_satisfies_the_workspace_rust_version(dockerfile):
    _, args, stages = dockerfile
    workspace = tomllib.loads((ROOT / "Cargo.toml").read_text())
    wanted = tuple(int(x) for x in workspace["workspace"]["package"]["rust-version"].split("."))
    base = expand(stages[0].base, args)
    m = re.fullmatch(r"rust:(\d+)\.(\d+)(?:\.\d+)?-slim-\w+", base)
    assert m, f"builder base {base}: want rust:X.Y-slim-<debian>"
    assert (int(m[1]), int(m[2])) >= wanted[:2]


def test_cargo_chef_is_installed_at_a_fixed_version(stages):
    install = [c for c in run_commands(stages["chef"]) if "cargo install cargo-chef" in c]
    assert len(install) == 1
    assert "--locked" in install[0] and "--version" in install[0]


def test_the_planner_writes_the_recipe(stages):
    assert any("cargo chef prepare --recipe-path recipe.json" in c for c in run_commands(stages["planner"]))


def test_dependencies_are_cooked_before_the_sources_are_copied(stages):
    """The cook layer depends on recipe.json alone, so a code change reuses it."""
    ops = stages["builder"].instructions
    cook = next(i for i, ins in enumerate(ops) if ins.op == "RUN" and "cargo chef cook" in ins.args)
    copy_all = next(i for i, ins in enumerate(ops) if ins.op == "COPY" and ins.args.split() == [".", "."])
    build = next(i for i, ins in enumerate(ops) if ins.op == "RUN" and "cargo build" in ins.args)
    assert cook < copy_all < build
    before_cook = [ins for ins in ops[:cook] if ins.op in ("COPY", "ADD")]
    assert [ins.args.split()[0] for ins in before_cook] == ["/src/recipe.json"]
    assert before_cook[0].flags == ["--from=planner"]
    assert "--release" in ops[cook].args
    assert re.search(r"(--package|-p) rex\b", ops[cook].args)
    assert re.search(r"cargo build --release --locked (--package|-p) rex\b", ops[build].args)


def test_the_runtime_is_small_and_has_no_build_tools(runtime):
    assert re.fullmatch(r"gcr\.io/distroless/cc-debian\d+(:[\w.-]+)?|debian:[\w.-]+-slim", runtime.base)
    # Nothing is built or installed in the final image (distroless has no shell anyway).
    assert runtime.ops("RUN") == []
    sources = {ins.flags[0] for ins in runtime.ops("COPY") if ins.flags}
    assert sources <= {"--from=builder", "--from=probe"}
    assert any(ins.args.startswith("/out/rex ") for ins in runtime.ops("COPY"))


def test_the_runtime_runs_as_a_numeric_non_root_user(runtime):
    (user,) = runtime.ops("USER")
    uid, _, gid = user.args.partition(":")
    assert uid.isdigit() and int(uid) > 0, "numeric, so runAsNonRoot can verify it"
    assert not gid or (gid.isdigit() and int(gid) > 0)
    # USER comes after every COPY: nothing later runs as root.
    last_user = max(i for i, ins in enumerate(runtime.instructions) if ins.op == "USER")
    assert all(ins.op not in ("COPY", "ADD", "RUN") for ins in runtime.instructions[last_user:])


def test_the_runtime_writes_only_to_tmp(runtime):
    """A read-only root filesystem needs every write in the mounted /tmp."""
    (workdir,) = runtime.ops("WORKDIR")
    assert workdir.args == "/tmp"
    env = " ".join(i.args for i in runtime.ops("ENV"))
    assert re.search(r"\bTMPDIR=/tmp\b", env)
    assert runtime.ops("VOLUME") == []


def test_one_image_for_every_subcommand(runtime):
    (entrypoint,) = runtime.ops("ENTRYPOINT")
    form = entrypoint.exec_form()
    assert form and len(form) == 1 and form[0].rsplit("/", 1)[-1] == "rex", "exec form: signals reach rex"
    (cmd,) = runtime.ops("CMD")
    assert cmd.exec_form() == ["--help"]


def test_dockerignore_keeps_the_context_to_the_sources():
    patterns = [l.strip() for l in DOCKERIGNORE.read_text().splitlines() if l.strip() and not l.startswith("#")]


    def ignored(path: str) -> bool:
        # Docker's `**/` also matches no directory at all; a directory pattern covers its
        # contents.
        variants = [v for p in patterns for v in ([p, p[3:]] if p.startswith("**/") else [p])]
        return any(fnmatch(path, v) or path.startswith(v.rstrip("/") + "/") for v in variants)

    for heavy in ("target", "target-release", ".git", ".tools", "rex.db"):
        assert ignored(heavy), f"{heavy} is sent to the build context"
    workspace = tomllib.loads((ROOT / "Cargo.toml").read_text())
    needed = ["Cargo.toml", "Cargo.lock", "definitions"] + workspace["workspace"]["members"]
    for path in needed:
        assert (ROOT / path).exists(), path
        assert not ignored(path), f"{path} is needed by the build but ignored"
        assert not ignored(f"{path}/Cargo.toml")
