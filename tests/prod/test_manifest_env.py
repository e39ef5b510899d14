"""Each deployable starts with exactly the environment its manifest gives it — and not with one secret less.

For the compose file and the Kubernetes manifest, the app server, the action server and the
Rasa core are started with their manifest's command (the image's ``CMD`` when the manifest
has none) and their manifest's environment: the image's ``ENV``, the ConfigMap, the
service's own variables, secret references replaced by test values. Only infrastructure is
swapped for local stand-ins: service host names and database URLs point at loopback
(SQLite, a local Redis with a password), bind addresses become 127.0.0.1 and ports free
ones. ``DEPLOY_PROFILE=production`` (from the manifest) keeps the secret check on even
on loopback, so removing any one secret must stop the process with the one message that
names it. No container runtime needed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from common.secret_env import ACTION_SERVER_SECRETS, APP_SERVER_SECRETS, CORE_SECRETS
from devtools.live import ci_model, load_sample_applications, rasa_available
from devtools.supervisor import APP_PY, RASA_PY, REPO, Service, free_port
from tests.prod.helpers import fernet_key
from tests.prod.redis_server import redis_server, redis_unavailable_reason

DEPLOY = REPO / "deploy"
SECRETS = {"app": APP_SERVER_SECRETS, "actions": ACTION_SERVER_SECRETS, "rasa": CORE_SECRETS}
IMAGE = {"app": "Containerfile.app", "actions": "Containerfile.app", "rasa": "Containerfile.rasa"}
REDIS_PASSWORD = "redis-test-password"
_REF = re.compile(r"\$\{([A-Z0-9_]+)(?::([?-])([^}]*))?\}")


def _image(name: str) -> tuple[dict[str, str], list[str]]:
    """``ENV`` and ``CMD`` of a Containerfile."""
    text = (DEPLOY / name).read_text(encoding="utf-8").replace("\\\n", " ")
    env: dict[str, str] = {}
    cmd: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("ENV "):
            env.update(dict(pair.split("=", 1) for pair in line[4:].split()))
        elif line.startswith("CMD "):
            cmd = json.loads(line[4:])
    return env, cmd


def _compose(service: str, secrets: dict[str, str]) -> tuple[dict[str, str], list[str] | None]:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    svc = compose["services"][service]

    def value(raw: Any) -> str:
        def sub(m: re.Match[str]) -> str:
            name, op, default = m.group(1), m.group(2), m.group(3)
            if op == "-":
                return default or ""
            return secrets[name]  # required (":?") — a secret the .env file provides

        return _REF.sub(sub, str(raw))

    return {k: value(v) for k, v in svc["environment"].items()}, svc.get("command")


def _k8s(deployment: str, secrets: dict[str, str]) -> tuple[dict[str, str], list[str] | None]:
    docs = [d for d in yaml.safe_load_all((DEPLOY / "k8s" / "citizenbot.yaml").read_text(encoding="utf-8")) if d]
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    dep = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == deployment)
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        assert source["configMapRef"]["name"] == config["metadata"]["name"]
        env.update({k: str(v) for k, v in config["data"].items()})
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            assert ref["name"] == "citizenbot-secrets"
            if not ref.get("optional"):  # infrastructure URLs are swapped for loopback ones below
                env[item["name"]] = secrets.get(item["name"], f"test-value-of-{ref['key']}")
    return env, container.get("command")


def _localise(service: str, env: dict[str, str], cmd: list[str], local: dict[str, str]) -> tuple[
        dict[str, str], list[str], int]:
    """Swap infrastructure for loopback stand-ins (never a secret); returns env, command, port."""
    port = free_port()
    env = dict(env)
    for name in ("KNOWLEDGE_DB_URL", "CHANNELS_DB_URL", "TRACKER_DB_URL", "CHANNELS_REDIS_URL"):
        if name in env:
            env[name] = local[name]
    for name, val in (("REDIS_HOST", "127.0.0.1"), ("REDIS_PORT", local["REDIS_PORT"]),
                      ("RASA_URL", local["RASA_URL"]), ("ACTION_ENDPOINT_URL", local["ACTION_ENDPOINT_URL"])):
        if name in env:
            env[name] = val
    for name in ("APP_HOST", "SANIC_HOST"):
        if name in env:
            env[name] = "127.0.0.1"
    if "APP_PORT" in env or service == "app":
        env["APP_PORT"] = str(port)
    cmd = list(cmd)
    cmd[0] = str(RASA_PY if service == "rasa" else APP_PY) if cmd[0] == "python" else cmd[0]
    for flag, new in (("-i", "127.0.0.1"), ("--port", str(port)), ("-p", str(port)), ("--model", local["MODEL"])):
        if flag in cmd:
            cmd[cmd.index(flag) + 1] = new
    # the process environment beyond the manifest: only what any container has (PATH, HOME)
    base = {"PATH": "/usr/bin:/bin", "HOME": local["HOME"], "PYTHONPATH": str(REPO),
            "RASA_TELEMETRY_ENABLED": "false"}
    return {**base, **env}, cmd, port


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory, seeded_template: Path) -> Iterator[dict[str, str]]:
    """The loopback stand-ins: a seeded SQLite knowledge base, SQLite channel and tracker stores, Redis."""
    reason = redis_unavailable_reason()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("manifests")
    shutil.copy(seeded_template, root / "kb.db")
    load_sample_applications(f"sqlite:///{root / 'kb.db'}")
    with redis_server(root / "redis", password=REDIS_PASSWORD) as url:
        yield {"KNOWLEDGE_DB_URL": f"sqlite:///{root / 'kb.db'}", "CHANNELS_DB_URL": f"sqlite:///{root / 'ch.db'}",
               "TRACKER_DB_URL": f"sqlite:///{root / 'tracker.db'}", "CHANNELS_REDIS_URL": url,
               "REDIS_PORT": url.rsplit(":", 1)[1].split("/")[0], "RASA_URL": f"http://127.0.0.1:{free_port()}",
               "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}/webhook", "HOME": str(root),
               "MODEL": "", "ROOT": str(root)}


@pytest.fixture(scope="module")
def secrets() -> dict[str, str]:
    """Test values for every secret reference of the manifests."""
    return {"POSTGRES_PASSWORD": "pg-test-password", "REDIS_PASSWORD": REDIS_PASSWORD,
            "TRACKER_PII_KEY": fernet_key(), "RELAY_TOKEN": "relay-test-token-0123456789",
            "ACTION_SERVER_TOKEN": "action-test-token-0123456789", "STAFF_SECRET_KEY": "s" * 48,
            "SENDER_HASH_SALT": "salt-test-0123456789", "RASA_API_TOKEN": "-api-test-token-0123456789",
            "TWILIO_AUTH_TOKEN": "", "PUBLIC_BASE_URL": ""}


def deployable(source: str, service: str, secrets: dict[str, str], local: dict[str, str]) -> tuple[
        dict[str, str], list[str], int]:
    """Environment, command and port of ``service`` as ``source`` ("compose" or "k8s") runs it."""
    image_env, image_cmd = _image(IMAGE[service])
    env, cmd = _compose(service, secrets) if source == "compose" else _k8s(service, secrets)
    return _localise(service, {**image_env, **env}, cmd or image_cmd, local)


def _ready(service: str, port: int, secrets: dict[str, str]) -> tuple[str, dict[str, str]]:
    if service == "app":
        return f"http://127.0.0.1:{port}/healthz", {}
    if service == "actions":
        return f"http://127.0.0.1:{port}/health", {}
    return f"http://127.0.0.1:{port}/webhooks/webchat/ready", {"X-Relay-Token": secrets["RELAY_TOKEN"]}


@pytest.mark.parametrize("source", ["compose", "k8s"])
@pytest.mark.parametrize("service", ["app", "actions", "rasa"])
def test_each_deployable_gets_every_secret_it_reads_and_nothing_named_otherwise(
        source: str, service: str, secrets: dict[str, str], local: dict[str, str]) -> None:
    env, _, _ = deployable(source, service, secrets, local)
    assert env.get("DEPLOY_PROFILE") == "production"
    assert set(SECRETS[service]) <= set(env), set(SECRETS[service]) - set(env)
    assert "SECRET_KEY" not in env  # the code reads STAFF_SECRET_KEY


@pytest.mark.parametrize("source", ["compose", "k8s"])
@pytest.mark.parametrize("service", ["app", "actions", "rasa"])
def test_removing_any_one_secret_stops_the_deployable_with_the_message_naming_it(
        source: str, service: str, secrets: dict[str, str], local: dict[str, str]) -> None:
    env, cmd, _ = deployable(source, service, secrets, local)
    for name in SECRETS[service]:
        without = {k: v for k, v in env.items() if k != name}
        out = subprocess.run(cmd, cwd=REPO, env=without, capture_output=True, text=True, timeout=120)
        assert out.returncode != 0, (name, out.stdout[-500:])
        assert "cannot start" in out.stderr and name in out.stderr, (name, out.stderr[-1500:])
    none = {k: v for k, v in env.items() if k not in SECRETS[service]}
    out = subprocess.run(cmd, cwd=REPO, env=none, capture_output=True, text=True, timeout=120)
    message = [ln for ln in out.stderr.splitlines() if "cannot start" in ln]
    assert len(message) == 1 and all(name in message[0] for name in SECRETS[service]), out.stderr[-1500:]


@pytest.mark.slow
@pytest.mark.parametrize("source", ["compose", "k8s"])
@pytest.mark.parametrize("service", ["app", "actions", "rasa"])
def test_each_deployable_comes_up_with_exactly_its_manifest_environment(
        source: str, service: str, secrets: dict[str, str], local: dict[str, str], tmp_path: Path) -> None:
    if service == "rasa":
        reason = rasa_available()
        if reason:
            pytest.skip(reason)
        local = {**local, "MODEL": str(ci_model())}
    env, cmd, port = deployable(source, service, secrets, local)
    svc = Service(f"{source}-{service}", cmd, env, tmp_path / f"{service}.log").start()
    try:
        url, headers = _ready(service, port, secrets)
        deadline = time.monotonic() + 300
        while True:
            assert svc.alive(), svc.tail()
            try:
                res = requests.get(url, headers=headers, timeout=3)
                # the core is up once its agent is loaded; no action server runs beside it here
                if res.status_code == 200 or (service == "rasa" and res.status_code == 503
                                              and res.json().get("status") == "actions_unavailable"):
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, svc.tail()
            time.sleep(1)
        if service == "rasa":  # the relays refuse a caller without the token even on loopback
            res = requests.post(f"http://127.0.0.1:{port}/webhooks/webchat/webhook",
                                json={"sender": "x", "message": "你好"}, timeout=30)
            assert res.status_code == 403
            # the HTTP API (the live-agent desk's way back) answers only with the manifest's token
            assert requests.get(f"http://127.0.0.1:{port}/status", timeout=30).status_code == 401
            res = requests.get(f"http://127.0.0.1:{port}/status", params={"token": secrets["RASA_API_TOKEN"]},
                               timeout=30)
            assert res.status_code == 200, res.text
        if service == "actions":
            res = requests.post(f"http://127.0.0.1:{port}/webhook", json={"next_action": "action_answer_faq"},
                                timeout=30)
            assert res.status_code == 403
    finally:
        svc.stop()


def test_rasa_http_api_is_never_enabled_without_a_token_and_no_stock_rest_channel() -> None:
    for path in [*DEPLOY.rglob("*"), *(REPO / "scripts").rglob("*"), *(REPO / "devtools").rglob("*.py")]:
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for line in text.splitlines():
            if "--enable-api" in line:  # only beside its token (devtools.supervisor.rasa_command)
                assert "--auth-token" in line, f"{path}: {line.strip()}"
    credentials = yaml.safe_load((REPO / "bot" / "credentials.yml").read_text(encoding="utf-8"))
    assert credentials and all(name.startswith("bot.connectors.") for name in credentials)


def test_network_policies_let_only_the_app_reach_rasa_and_only_rasa_reach_the_actions() -> None:
    docs = [d for d in yaml.safe_load_all((DEPLOY / "k8s" / "citizenbot.yaml").read_text(encoding="utf-8")) if d]
    policies = [d["spec"] for d in docs if d["kind"] == "NetworkPolicy"]
    assert any(p["podSelector"] == {} and p["policyTypes"] == ["Ingress"] and not p.get("ingress")
               for p in policies)  # default deny

    def allowed(target: str) -> list[dict]:
        return [src for p in policies if p["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name") == target
                for rule in p.get("ingress", []) for src in rule["from"]]

    assert allowed("actions") == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "rasa"}}}]
    assert allowed("rasa") == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "app"}}}]
    assert all("namespaceSelector" in src for src in allowed("app"))
