"""Shared helpers of the deployment checks: paths, the helm renderer, facts about `rex`.

Run through `.ci/deploy-checks.sh`, which installs helm and these Python packages under
`.tools/` and points REX_HELM at the helm binary.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "helm" / "rex"
VALUES_DIR = Path(__file__).resolve().parent / "values"

# The agents of the design: the domain agents get a Deployment each by default.
DOMAIN_AGENTS = [
    "reviver",
    "deliverability",
    "personalizer",
    "icp",
    "scraper",
    "outreach",
    "analytics",
]
BUILTIN_AGENTS = ["noop", "echo", "sleep", "fail"]

# Environment variables the deployment files set that no Rust code reads yet: the HTTP
# listener of /healthz, /readyz and /metrics comes with issues 6 and 7.
PENDING_ENV: set[str] = set()


@lru_cache(maxsize=1)
def rex_env_vars() -> frozenset[str]:
    """Every REX_* variable named in the workspace's Rust sources, plus the pending ones.

    Catches a misspelt or invented variable in the compose file or the chart: a
    container that sets REX_WORKER_CONCURENCY would silently run with the default.
    """
    found = set(PENDING_ENV)
    for path in ROOT.rglob("*.rs"):
        if any(part.startswith("target") or part.startswith(".") for part in path.relative_to(ROOT).parts):
            continue
        found.update(re.findall(r'"(REX_[A-Z0-9_]+)"', path.read_text(encoding="utf-8", errors="replace")))
    return frozenset(found)


def helm_binary() -> str:
    helm = os.environ.get("REX_HELM") or shutil.which("helm")
    if not helm:
        pytest.fail("helm not found: run through .ci/deploy-checks.sh, or set REX_HELM")
    return helm


def helm_template(*value_files: Path, sets: tuple[str, ...] = (), release: str = "rex") -> subprocess.CompletedProcess:
    cmd = [helm_binary(), "template", release, str(CHART), "--namespace", "rex"]
    for f in value_files:
        cmd += ["--values", str(f)]
    for s in sets:
        cmd += ["--set", s]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


@lru_cache(maxsize=None)
def _render_cached(value_files: tuple[str, ...], sets: tuple[str, ...]) -> tuple:
    result = helm_template(*(Path(f) for f in value_files), sets=sets)
    if result.returncode != 0:
        raise AssertionError(f"helm template failed:\n{result.stderr}")
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def render(*value_files: Path | str, sets: tuple[str, ...] = ()) -> list[dict]:
    """The chart's manifests (hooks included) for these values files."""
    files = tuple(str(VALUES_DIR / f) if isinstance(f, str) else str(f) for f in value_files)
    return list(_render_cached(files, sets))


def of_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d.get("kind") == kind]


def by_name(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in of_kind(docs, kind)}


def pod_specs(docs: list[dict]) -> list[tuple[str, dict]]:
    """(kind/name, pod template) of every workload."""
    out = []
    for d in docs:
        if d.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            out.append((f"{d['kind']}/{d['metadata']['name']}", d["spec"]["template"]))
    return out


def chart_values() -> dict:
    return yaml.safe_load((CHART / "values.yaml").read_text())


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())
