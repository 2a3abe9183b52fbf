"""The Helm chart, rendered with `helm template` and checked object by object.

Three renders: the default values (KEDA on), KEDA disabled (plain HPAs), and `full`
(every optional feature). kubernetes-validate and validate-crds.mjs check that each
object is well-formed; these tests check that the objects say what Rex needs.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import (
    CHART,
    DOMAIN_AGENTS,
    by_name,
    chart_values,
    helm_binary,
    helm_template,
    of_kind,
    pod_specs,
    render,
    rex_env_vars,
    selects,
)

RENDERS = {
    "default": (),
    "keda-disabled": ("keda-disabled.yaml",),
    "full": ("full.yaml",),
}


@pytest.fixture(params=list(RENDERS), ids=list(RENDERS))
def docs(request) -> list[dict]:
    return render(*RENDERS[request.param])


def containers(pod: dict) -> list[dict]:
    return pod["spec"].get("initContainers", []) + pod["spec"]["containers"]


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def worker_deployments(docs: list[dict]) -> dict[str, dict]:
    """agent -> its Deployment."""
    out = {}
    for d in of_kind(docs, "Deployment"):
        labels = d["metadata"]["labels"]
        if labels.get("app.kubernetes.io/component") == "worker":
            agent = labels["rex/agent"]
            assert agent not in out, f"two Deployments for agent {agent}"
            out[agent] = d
    return out


# ---- one worker Deployment and one ScaledObject per agent ----------------------------


def test_default_values_list_the_seven_domain_agents():
    assert [w["name"] for w in chart_values()["workers"]] == DOMAIN_AGENTS


def test_default_render_has_one_worker_deployment_per_agent():
    docs = render()
    workers = worker_deployments(docs)
    assert sorted(workers) == sorted(DOMAIN_AGENTS)
    for agent, deployment in workers.items():
        assert deployment["metadata"]["name"] == f"rex-worker-{agent}"
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["args"] == ["worker", "--agent", agent]


def test_worker_settings_come_from_each_values_entry():
    docs = render()
    workers = worker_deployments(docs)
    for entry in chart_values()["workers"]:
        (container,) = workers[entry["name"]]["spec"]["template"]["spec"]["containers"]
        env = env_of(container)
        assert env["REX_WORKER_CONCURRENCY"]["value"] == str(entry["concurrency"])
        assert env["REX_WORKER_PREFETCH"]["value"] == str(entry["prefetch"])
        assert container["resources"] == entry["resources"]


def test_default_render_has_one_scaled_object_per_agent_on_its_queue():
    docs = render()
    workers = worker_deployments(docs)
    scaled = {so["spec"]["scaleTargetRef"]["name"]: so for so in of_kind(docs, "ScaledObject")}
    assert len(of_kind(docs, "ScaledObject")) == len(DOMAIN_AGENTS)
    assert sorted(scaled) == sorted(d["metadata"]["name"] for d in workers.values())
    auths = by_name(docs, "TriggerAuthentication")
    values = {w["name"]: w for w in chart_values()["workers"]}
    for agent, deployment in workers.items():
        so = scaled[deployment["metadata"]["name"]]
        assert so["spec"]["scaleTargetRef"]["kind"] == "Deployment"
        assert so["spec"]["minReplicaCount"] == values[agent]["autoscaling"]["minReplicas"]
        assert so["spec"]["maxReplicaCount"] == values[agent]["autoscaling"]["maxReplicas"]
        (trigger,) = so["spec"]["triggers"]
        assert trigger["type"] == "rabbitmq"
        assert trigger["metadata"]["queueName"] == f"rex.agent.{agent}"
        assert trigger["metadata"]["mode"] == "QueueLength"
        assert trigger["metadata"]["value"] == str(values[agent]["autoscaling"]["targetQueueLength"])
        assert trigger["authenticationRef"]["name"] in auths
    assert of_kind(docs, "HorizontalPodAutoscaler") == []


def test_trigger_authentication_reads_the_broker_url_from_the_secret():
    for files, key in [((), "amqp-url"), (("full.yaml",), "rabbitmq-management-url")]:
        docs = render(*files)
        (auth,) = of_kind(docs, "TriggerAuthentication")
        (ref,) = auth["spec"]["secretTargetRef"]
        assert ref["parameter"] == "host"
        assert ref["key"] == key
        secrets = by_name(docs, "Secret")
        if files:  # existing secret: not rendered, referenced by name
            assert ref["name"] == "rex-credentials"
            assert "rex-credentials" not in secrets
        else:
            assert key in secrets[ref["name"]]["data"]


def test_keda_objects_use_only_known_fields():
    """The KEDA validators accept unknown fields; a misspelt one would be ignored by KEDA."""
    spec_fields = {
        "scaleTargetRef", "pollingInterval", "cooldownPeriod", "initialCooldownPeriod",
        "idleReplicaCount", "minReplicaCount", "maxReplicaCount", "advanced", "fallback", "triggers",
    }
    trigger_fields = {"type", "name", "metadata", "authenticationRef", "metricType", "useCachedMetrics"}
    rabbitmq_metadata = {
        "host", "hostFromEnv", "protocol", "mode", "value", "activationValue", "queueName",
        "vhostName", "useRegex", "excludeUnacknowledged", "pageSize", "operation", "timeout", "unsafeSsl",
    }
    for name in RENDERS:
        for so in of_kind(render(*RENDERS[name]), "ScaledObject"):
            assert set(so["spec"]) <= spec_fields, so["metadata"]["name"]
            for trigger in so["spec"]["triggers"]:
                assert set(trigger) <= trigger_fields
                assert set(trigger["metadata"]) <= rabbitmq_metadata
                assert all(isinstance(v, str) for v in trigger["metadata"].values())
                assert trigger["metadata"]["protocol"] in ("amqp", "http")


def test_keda_disabled_gives_one_hpa_per_agent_and_no_keda_objects():
    docs = render("keda-disabled.yaml")
    workers = worker_deployments(docs)
    assert sorted(workers) == sorted(DOMAIN_AGENTS)
    assert of_kind(docs, "ScaledObject") == []
    assert of_kind(docs, "TriggerAuthentication") == []
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in of_kind(docs, "HorizontalPodAutoscaler")}
    assert sorted(hpas) == sorted(d["metadata"]["name"] for d in workers.values())
    for hpa in hpas.values():
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["minReplicas"] >= 1
        assert hpa["spec"]["maxReplicas"] >= hpa["spec"]["minReplicas"]


def test_the_worker_list_is_driven_by_values(tmp_path: Path):
    values = tmp_path / "two.yaml"
    entry = {
        "replicas": 2, "concurrency": 4, "prefetch": 8, "resources": {"requests": {"cpu": "50m"}},
        "autoscaling": {"enabled": True, "minReplicas": 1, "maxReplicas": 3, "targetQueueLength": 5},
    }
    values.write_text(yaml.safe_dump({"workers": [{"name": "noop", **entry}, {"name": "echo", **entry}]}))
    docs = render(values)
    assert sorted(worker_deployments(docs)) == ["echo", "noop"]
    assert len(of_kind(docs, "ScaledObject")) == 2


def test_autoscaled_workers_leave_the_replica_count_to_the_autoscaler():
    docs = render("full.yaml")
    workers = worker_deployments(docs)
    assert workers["outreach"]["spec"]["replicas"] == 3  # autoscaling off
    assert "replicas" not in workers["scraper"]["spec"]  # the ScaledObject owns it
    assert [so["spec"]["scaleTargetRef"]["name"] for so in of_kind(docs, "ScaledObject")] == ["rex-worker-scraper"]


# ---- probes and security contexts ----------------------------------------------------


def test_every_long_running_container_has_http_probes(docs):
    """Every Deployment's containers; the migrations Job's one-shot container has none."""
    for kind_name, pod in pod_specs(docs):
        if kind_name.startswith("Job/"):
            continue
        for c in containers(pod):
            where = f"{kind_name}/{c['name']}"
            ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
            assert "http" in ports, where
            for probe, path in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")]:
                assert probe in c, f"{where}: no {probe}"
                assert c[probe]["httpGet"]["path"] == path, where
                assert c[probe]["httpGet"]["port"] == "http", where


def test_every_pod_runs_non_root_read_only_without_privileges(docs):
    pods = pod_specs(docs)
    components = {p["metadata"]["labels"]["app.kubernetes.io/component"] for _, p in pods}
    assert components == {"api", "orchestrator", "worker", "migrations"}
    for kind_name, pod in pods:
        spec = pod["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, kind_name
        assert spec["securityContext"]["runAsUser"] > 0, kind_name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", kind_name
        assert spec["automountServiceAccountToken"] is False, kind_name
        volumes = {v["name"]: v for v in spec["volumes"]}
        for c in containers(pod):
            where = f"{kind_name}/{c['name']}"
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True, where
            assert sc["runAsUser"] > 0, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc.get("privileged", False) is False, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            assert not sc["capabilities"].get("add"), where
            (tmp,) = [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert "emptyDir" in volumes[tmp["name"]], where


# ---- shutdown, orchestrator availability, migrations ---------------------------------


def test_worker_grace_period_covers_the_workers_own_shutdown_grace(docs):
    values = chart_values()
    margin = values["shutdown"]["marginSeconds"]
    for agent, deployment in worker_deployments(docs).items():
        pod = deployment["spec"]["template"]["spec"]
        grace = int(env_of(pod["containers"][0])["REX_SHUTDOWN_GRACE_SECS"]["value"])
        assert pod["terminationGracePeriodSeconds"] == grace + margin, agent
    full = worker_deployments(render("full.yaml"))["outreach"]["spec"]["template"]["spec"]
    assert env_of(full["containers"][0])["REX_SHUTDOWN_GRACE_SECS"]["value"] == "120"
    assert full["terminationGracePeriodSeconds"] == 120 + margin


def test_shutdown_grace_is_one_value_for_env_and_termination_period():
    docs = render(sets=("shutdown.graceSeconds=90", "shutdown.marginSeconds=5"))
    for agent, deployment in worker_deployments(docs).items():
        pod = deployment["spec"]["template"]["spec"]
        assert env_of(pod["containers"][0])["REX_SHUTDOWN_GRACE_SECS"]["value"] == "90", agent
        assert pod["terminationGracePeriodSeconds"] == 95, agent
    orchestrator = by_name(docs, "Deployment")["rex-orchestrator"]["spec"]["template"]["spec"]
    assert orchestrator["terminationGracePeriodSeconds"] == 95


def test_orchestrator_runs_two_replicas_behind_a_disruption_budget():
    docs = render()
    orchestrator = by_name(docs, "Deployment")["rex-orchestrator"]
    assert orchestrator["spec"]["replicas"] >= 2
    assert orchestrator["spec"]["template"]["spec"]["containers"][0]["args"] == ["orchestrator"]
    pdbs = [p for p in of_kind(docs, "PodDisruptionBudget")
            if selects(p["spec"]["selector"]["matchLabels"], orchestrator["spec"]["template"]["metadata"]["labels"])]
    assert len(pdbs) == 1
    assert 0 < pdbs[0]["spec"]["minAvailable"] < orchestrator["spec"]["replicas"]


def test_migrations_run_as_a_pre_install_and_pre_upgrade_hook():
    docs = render()
    (job,) = of_kind(docs, "Job")
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["migrate"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    # At pre-install nothing of the release exists yet: what the Job reads must be a
    # hook created before it.
    ref = env_of(container)["REX_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    secret = by_name(docs, "Secret")[ref["name"]]
    assert ref["key"] in secret["data"]
    assert secret["metadata"]["annotations"]["helm.sh/hook"] == annotations["helm.sh/hook"]
    assert int(secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(annotations["helm.sh/hook-weight"])
    assert "envFrom" not in container  # the ConfigMap does not exist yet either
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "default"


def test_migrations_read_an_existing_secret_directly():
    docs = render("full.yaml")
    (job,) = of_kind(docs, "Job")
    ref = env_of(job["spec"]["template"]["spec"]["containers"][0])["REX_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert ref["name"] == "rex-credentials"
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "rex-runtime"


# ---- configuration ------------------------------------------------------------------


def test_every_rex_container_gets_config_urls_and_telemetry(docs):
    configmaps = by_name(docs, "ConfigMap")
    secrets = by_name(docs, "Secret")
    for kind_name, pod in pod_specs(docs):
        if kind_name.startswith("Job/"):
            continue
        for c in containers(pod):
            where = f"{kind_name}/{c['name']}"
            (cm_ref,) = [e["configMapRef"]["name"] for e in c["envFrom"] if "configMapRef" in e]
            config = configmaps[cm_ref]["data"]
            assert config["OTEL_EXPORTER_OTLP_ENDPOINT"].startswith("http"), where
            port = int(config["REX_HTTP_ADDR"].rsplit(":", 1)[1])
            assert {p["name"]: p["containerPort"] for p in c["ports"]}["http"] == port, where
            env = env_of(c)
            for var in ("REX_DATABASE_URL", "REX_AMQP_URL"):
                ref = env[var]["valueFrom"]["secretKeyRef"]
                if ref["name"] in secrets:
                    assert ref["key"] in secrets[ref["name"]]["data"], where
                else:
                    assert ref["name"] == "rex-credentials", where


def test_every_rex_variable_set_is_one_the_binary_reads(docs):
    known = rex_env_vars()
    names = set()
    for cm in of_kind(docs, "ConfigMap"):
        names.update(cm["data"])
    for _, pod in pod_specs(docs):
        for c in containers(pod):
            names.update(env_of(c))
    unknown = {n for n in names if n.startswith("REX_")} - known
    assert not unknown, f"variables no Rust code reads: {sorted(unknown)}"


def test_an_existing_secret_replaces_the_rendered_one():
    docs = render("full.yaml")
    secrets = by_name(docs, "Secret")
    assert "rex" not in secrets and "rex-migrations" not in secrets
    assert set(secrets) == {"rex-providers"}
    for kind_name, pod in pod_specs(docs):
        if kind_name.startswith("Job/"):
            continue
        refs = [e["secretRef"]["name"] for e in pod["spec"]["containers"][0]["envFrom"] if "secretRef" in e]
        assert refs == ["rex-providers", "rex-provider-credentials"], kind_name


def test_selectors_match_their_pods(docs):
    pods = pod_specs(docs)
    for d in of_kind(docs, "Deployment"):
        assert selects(d["spec"]["selector"]["matchLabels"], d["spec"]["template"]["metadata"]["labels"])
    for svc in of_kind(docs, "Service"):
        assert any(selects(svc["spec"]["selector"], p["metadata"]["labels"]) for _, p in pods), svc["metadata"]["name"]
    for pdb in of_kind(docs, "PodDisruptionBudget"):
        assert any(selects(pdb["spec"]["selector"]["matchLabels"], p["metadata"]["labels"]) for _, p in pods)
    for np in of_kind(docs, "NetworkPolicy"):
        assert all(selects(np["spec"]["podSelector"]["matchLabels"], p["metadata"]["labels"]) for _, p in pods)


def test_network_policy_opens_only_the_http_port_and_the_backends():
    docs = render()
    (np,) = of_kind(docs, "NetworkPolicy")
    assert set(np["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    (ingress,) = np["spec"]["ingress"]
    assert ingress["ports"] == [{"port": "http", "protocol": "TCP"}]
    egress_ports = {p["port"] for rule in np["spec"]["egress"] for p in rule["ports"]}
    assert {53, 5432, 5672, 4317} <= egress_ports


def test_service_monitor_scrapes_every_component():
    docs = render("full.yaml")
    (sm,) = of_kind(docs, "ServiceMonitor")
    assert sm["metadata"]["labels"]["release"] == "prometheus"
    (endpoint,) = sm["spec"]["endpoints"]
    assert endpoint == {**endpoint, "port": "http", "path": "/metrics"}
    scraped = [s for s in of_kind(docs, "Service") if selects(sm["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])]
    components = {s["metadata"]["labels"]["app.kubernetes.io/component"] for s in scraped}
    assert components == {"api", "orchestrator", "worker"}
    for s in scraped:
        assert [p["name"] for p in s["spec"]["ports"]] == ["http"]
    assert of_kind(render(), "ServiceMonitor") == []  # off by default: needs the CRD


def test_long_running_pods_carry_scrape_annotations(docs):
    for kind_name, pod in pod_specs(docs):
        if kind_name.startswith("Job/"):
            continue
        annotations = pod["metadata"]["annotations"]
        port = {p["name"]: p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]}["http"]
        assert annotations["prometheus.io/scrape"] == "true", kind_name
        assert annotations["prometheus.io/port"] == str(port), kind_name
        assert annotations["prometheus.io/path"] == "/metrics", kind_name


# ---- values that must be refused -----------------------------------------------------

def _worker(**fields) -> dict:
    entry = {
        "name": "icp", "replicas": 1, "concurrency": 4, "prefetch": 8, "resources": {},
        "autoscaling": {"enabled": False, "minReplicas": 1, "maxReplicas": 1, "targetQueueLength": 1},
    }
    entry.update(fields)
    return {k: v for k, v in entry.items() if v is not None}


# name -> (values, a fragment of the error helm must print)
BAD_VALUES = {
    "unknown top-level key": ({"replicaCount": 3}, "'replicaCount' not allowed"),
    "misspelt worker field": ({"workers": [_worker(concurency=4)]}, "'concurency' not allowed"),
    "agent name not a DNS label": ({"workers": [_worker(name="Scraper_1")]}, "does not match pattern"),
    "agent listed twice": ({"workers": [_worker(), _worker()]}, 'agent "icp" is listed twice'),
    "prefetch below concurrency": ({"workers": [_worker(concurrency=16, prefetch=4)]}, "must be at least concurrency"),
    "maxReplicas below minReplicas": (
        {"workers": [_worker(autoscaling={"enabled": True, "minReplicas": 5, "maxReplicas": 2, "targetQueueLength": 1})]},
        "is below minReplicas",
    ),
    "worker without autoscaling settings": ({"workers": [_worker(autoscaling=None)]}, "missing property 'autoscaling'"),
    "cpu HPA without a cpu request": (
        {"keda": {"enabled": False},
         "workers": [_worker(autoscaling={"enabled": True, "minReplicas": 1, "maxReplicas": 2, "targetQueueLength": 1})]},
        "needs resources.requests.cpu",
    ),
    "root user": ({"securityContext": {"runAsUser": 0}}, "/securityContext/runAsUser"),
    "unknown log format": ({"config": {"logFormat": "xml"}}, "/config/logFormat"),
    "http address without port": ({"config": {"httpAddr": "0.0.0.0"}}, "/config/httpAddr"),
    "database URL of another kind": ({"secrets": {"databaseUrl": "mysql://db/rex"}}, "/secrets/databaseUrl"),
    "keda http protocol without a management URL": (
        {"keda": {"rabbitmq": {"protocol": "http"}}}, "needs secrets.rabbitmqManagementUrl"),
    "orchestrator budget that blocks every drain": (
        {"orchestrator": {"replicas": 1}}, "no node can ever be drained"),
    "zero shutdown grace": ({"shutdown": {"graceSeconds": 0}}, "/shutdown/graceSeconds"),
}


@pytest.mark.parametrize(("values", "error"), list(BAD_VALUES.values()), ids=list(BAD_VALUES))
def test_bad_values_are_refused(values: dict, error: str, tmp_path: Path):
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(values))
    result = helm_template(f)
    assert result.returncode != 0, "rendered although the values are wrong"
    assert error in result.stderr, result.stderr


def test_install_notes_state_the_database_connections_at_full_scale():
    result = subprocess.run(
        [helm_binary(), "install", "rex", str(CHART), "--dry-run=client", "--namespace", "rex"],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("NOTES:", 1)[1]
    v = chart_values()
    pool = v["config"]["dbMaxConnections"]
    expected = v["api"]["replicas"] * pool + v["orchestrator"]["replicas"] * pool + sum(
        w["autoscaling"]["maxReplicas"] * w.get("dbMaxConnections", pool) for w in v["workers"]
    )
    assert f"up to {expected} database connections" in notes
    for agent in DOMAIN_AGENTS:
        assert f"  - {agent}: " in notes
