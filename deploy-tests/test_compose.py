"""compose.yaml, checked statically (no Docker engine runs here, so `docker compose
config` cannot): every service, health check, start-up ordering and volume."""

from __future__ import annotations

import json
import re
from urllib.parse import urlparse

import pytest
import yaml

from conftest import BUILTIN_AGENTS, DOMAIN_AGENTS, ROOT, rex_env_vars

COMPOSE = ROOT / "compose.yaml"
INFRA = {"postgres", "rabbitmq", "jaeger"}
WORKERS = {f"worker-{a}" for a in DOMAIN_AGENTS} | {"worker-builtin"}
REX_LONG_RUNNING = {"api", "orchestrator"} | WORKERS
REX = REX_LONG_RUNNING | {"migrate"}


@pytest.fixture(scope="module")
def compose() -> dict:
    # safe_load resolves the `<<` merge keys the way compose does.
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict]:
    return compose["services"]


def seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    total = 0.0
    for value, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration):
        total += float(value) * units[unit]
    assert total > 0, f"not a duration: {duration!r}"
    return total


def test_the_compose_specification_accepts_the_file(compose):
    """The compose_spec crate's parser (through its Python binding) knows every key and
    value of the Compose specification and refuses unknown ones: a misspelt
    `healtcheck` or `stop_grace_period: 45 seconds` fails here. It does not resolve YAML
    merge keys, so it gets the document PyYAML already merged."""
    from compose_spec import PyCompose

    parsed = PyCompose.from_json(json.dumps(compose))
    assert sorted(parsed.service_names()) == sorted(compose["services"])


def test_the_stack_has_exactly_the_expected_services(services):
    assert set(services) == INFRA | REX


def test_infrastructure_images(services):
    assert services["postgres"]["image"].startswith("postgres:")
    assert re.fullmatch(r"rabbitmq:[\w.]+-management", services["rabbitmq"]["image"])
    assert services["jaeger"]["image"].startswith("jaegertracing/")
    for name in INFRA:
        tag = services[name]["image"].split(":", 1)[1]
        assert tag != "latest", name
    jaeger_ports = {p.split(":")[-1] for p in services["jaeger"]["ports"]}
    assert {"4317", "4318", "16686"} <= jaeger_ports


def test_every_long_running_service_has_a_health_check(services):
    for name, svc in services.items():
        if name == "migrate":
            continue
        check = svc.get("healthcheck")
        assert check and not check.get("disable"), f"{name}: no health check"
        assert check["test"][0] in ("CMD", "CMD-SHELL") and len(check["test"]) > 1, name
        for key in ("interval", "timeout"):
            seconds(check[key])
        assert check["retries"] >= 1, name


def test_rex_health_checks_ask_readyz_on_the_http_port(services):
    for name in REX_LONG_RUNNING:
        test = services[name]["healthcheck"]["test"]
        port = services[name]["environment"]["REX_HTTP_ADDR"].rsplit(":", 1)[1]
        assert test[1] == "wget", name  # the image ships a static wget for this
        assert f"http://127.0.0.1:{port}/readyz" in test, name


def test_migrations_run_once_after_postgres_is_healthy(services):
    migrate = services["migrate"]
    assert migrate["command"] == ["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}


def test_every_rex_process_waits_for_migrations_and_healthy_backends(services):
    for name in REX_LONG_RUNNING:
        deps = services[name]["depends_on"]
        assert deps["migrate"] == {"condition": "service_completed_successfully"}, name
        for backend in ("postgres", "rabbitmq", "jaeger"):
            assert deps[backend] == {"condition": "service_healthy"}, name


def test_depends_on_conditions_are_satisfiable(services):
    for name, svc in services.items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            condition = cond["condition"]
            assert condition in ("service_started", "service_healthy", "service_completed_successfully")
            if condition == "service_healthy":
                assert not services[dep].get("healthcheck", {}).get("disable"), f"{name} -> {dep}"
                assert "healthcheck" in services[dep], f"{name} waits for {dep} to be healthy, which has no check"
            if condition == "service_completed_successfully":
                assert services[dep].get("restart") == "no", f"{dep} must be a one-shot job"


def test_one_worker_service_per_agent(services):
    agents_run = {}
    for name in WORKERS:
        cmd = services[name]["command"]
        assert cmd[0] == "worker", name
        pairs = list(zip(cmd[1::2], cmd[2::2]))
        assert all(flag == "--agent" for flag, _ in pairs) and len(cmd) == 1 + 2 * len(pairs), name
        for _, agent in pairs:
            assert agent not in agents_run, f"{agent} runs in {agents_run.get(agent)} and {name}"
            agents_run[agent] = name
    for agent in DOMAIN_AGENTS:
        assert agents_run[agent] == f"worker-{agent}"
    assert {a for a, s in agents_run.items() if s == "worker-builtin"} == set(BUILTIN_AGENTS)


def test_api_and_orchestrator_commands(services):
    assert services["api"]["command"] == ["api"]
    assert services["orchestrator"]["command"] == ["orchestrator"]
    assert services["orchestrator"]["deploy"]["replicas"] >= 2


def test_rex_services_build_the_image_from_the_dockerfile(services):
    images = {services[name]["image"] for name in REX}
    assert len(images) == 1
    for name in REX:
        build = services[name]["build"]
        assert (ROOT / build["context"] / build["dockerfile"]).is_file(), name


def test_rex_containers_run_locked_down(services):
    for name in REX:
        svc = services[name]
        uid = str(svc["user"]).split(":")[0]
        assert uid.isdigit() and int(uid) > 0, name
        assert svc["read_only"] is True, name
        assert svc["tmpfs"] == ["/tmp"], name
        assert svc["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in svc["security_opt"], name


def test_workers_get_time_to_finish_their_tasks_on_stop(services):
    for name in WORKERS:
        grace = int(services[name]["environment"]["REX_SHUTDOWN_GRACE_SECS"])
        assert seconds(services[name]["stop_grace_period"]) > grace, name


def test_named_volumes_are_declared_and_used(compose, services):
    declared = set(compose["volumes"])
    used = set()
    for name, svc in services.items():
        for mount in svc.get("volumes", []):
            source = mount.split(":")[0] if isinstance(mount, str) else mount["source"]
            assert not source.startswith((".", "/")), f"{name}: bind mount {source}, want a named volume"
            assert source in declared, f"{name}: volume {source} is not declared"
            used.add(source)
    assert used == declared
    data = {s.split(":")[1] for s in services["postgres"]["volumes"]}
    assert "/var/lib/postgresql/data" in data
    assert "/var/lib/rabbitmq" in {s.split(":")[1] for s in services["rabbitmq"]["volumes"]}


def test_rex_configuration_points_at_the_stack(services):
    known = rex_env_vars()
    for name in REX:
        env = services[name]["environment"]
        unknown = {k for k in env if k.startswith("REX_")} - known
        assert not unknown, f"{name}: variables no Rust code reads: {sorted(unknown)}"
        db = urlparse(env["REX_DATABASE_URL"])
        assert db.scheme == "postgres" and db.hostname == "postgres" and db.port == 5432, name
        assert db.username == services["postgres"]["environment"]["POSTGRES_USER"]
        assert db.path == "/" + services["postgres"]["environment"]["POSTGRES_DB"]
        amqp = urlparse(env["REX_AMQP_URL"])
        assert amqp.scheme == "amqp" and amqp.hostname == "rabbitmq" and amqp.port == 5672, name
        assert amqp.username == services["rabbitmq"]["environment"]["RABBITMQ_DEFAULT_USER"]
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4317", name
        assert env["REX_LOG_FORMAT"] in ("json", "pretty"), name


def test_no_service_relies_on_variable_interpolation():
    """`${VAR}` would make the file's meaning depend on the caller's shell."""
    assert "${" not in COMPOSE.read_text()
