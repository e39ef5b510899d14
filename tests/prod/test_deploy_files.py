"""Deployment files, linted offline: YAML style, Kubernetes schemas, env contracts, nginx -t, Containerfiles."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from devtools.prod_stack import (
    NGINX_TEMPLATE,
    PROD_ENDPOINTS,
    REPO,
    Ports,
    _binary,
    render_compose_nginx,
    render_nginx_conf,
)
from tests.prod.helpers import RASA_PY, rasa_env, rasa_venv_missing

DEPLOY = REPO / "deploy"
ENV_REF = re.compile(r"\$\{([A-Z0-9_]+)")


def endpoint_vars() -> set[str]:
    lines = [ln for ln in PROD_ENDPOINTS.read_text(encoding="utf-8").splitlines() if not ln.lstrip().startswith("#")]
    return set(ENV_REF.findall("\n".join(lines)))


def test_yaml_files_pass_yamllint() -> None:
    from yamllint import linter
    from yamllint.config import YamlLintConfig

    conf = YamlLintConfig(file=str(DEPLOY / ".yamllint.yml"))
    files = [*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml"), REPO / "endpoints.yml"]
    problems = [f"{f.relative_to(REPO)}:{p.line}: {p.message}" for f in files
                for p in linter.run(f.read_text(encoding="utf-8"), conf, str(f)) if p.level == "error"]
    assert problems == []


def test_kubernetes_manifests_match_the_api_schemas_strictly() -> None:
    import kubernetes_validate

    docs = [d for d in yaml.safe_load_all((DEPLOY / "k8s" / "citizenbot.yaml").read_text(encoding="utf-8")) if d]
    assert {d["kind"] for d in docs} >= {"Deployment", "Service", "Job", "CronJob", "Ingress"}
    for doc in docs:
        kubernetes_validate.validate(doc, "1.30.0", strict=True)


def test_every_endpoint_variable_is_provided_in_compose_and_kubernetes() -> None:
    needed = endpoint_vars()
    assert needed == {"ACTION_ENDPOINT_URL", "ACTION_SERVER_TOKEN", "TRACKER_DB_URL", "TRACKER_PII_KEY", "REDIS_HOST",
                      "REDIS_PORT", "REDIS_LOCK_DB", "REDIS_PASSWORD"}
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert needed <= set(compose["services"]["rasa"]["environment"])
    docs = list(yaml.safe_load_all((DEPLOY / "k8s" / "citizenbot.yaml").read_text(encoding="utf-8")))
    config = next(d for d in docs if d and d["kind"] == "ConfigMap")["data"]
    for name in ("rasa", "tracker-retention"):
        doc = next(d for d in docs if d and d["metadata"]["name"] == name and d["kind"] in ("Deployment", "CronJob"))
        spec = doc["spec"]["template"]["spec"] if doc["kind"] == "Deployment" else \
            doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        env = {e["name"] for c in spec["containers"] for e in c.get("env", [])}
        assert needed <= env | set(config), (name, needed - env - set(config))


def test_compose_services_use_built_images_and_secrets_have_no_defaults() -> None:
    text = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    compose = yaml.safe_load(text)
    assert {"postgres", "redis", "migrate", "rasa", "actions", "app", "nginx", "retention"} <= set(compose["services"])
    for secret in ("POSTGRES_PASSWORD", "TRACKER_PII_KEY", "REDIS_PASSWORD", "STAFF_SECRET_KEY", "RELAY_TOKEN",
                   "ACTION_SERVER_TOKEN", "SENDER_HASH_SALT"):
        uses = re.findall(r"(?<!\$)\$\{" + secret + r"([^}]*)\}", text)
        assert uses and all(u.startswith(":?") for u in uses), secret  # required, never defaulted


@pytest.mark.parametrize("name", ["Containerfile.app", "Containerfile.rasa"])
def test_containerfiles_pin_their_base_run_unprivileged_and_copy_existing_paths(name: str) -> None:
    lines = [ln.strip() for ln in (DEPLOY / name).read_text(encoding="utf-8").splitlines()]
    base = next(ln for ln in lines if ln.startswith("FROM "))
    assert ":" in base and not base.endswith(":latest")
    assert any(ln.startswith("USER ") and ln != "USER root" for ln in lines)
    cmd = " ".join(ln for ln in lines if ln.startswith("CMD") or ln.startswith('"') or ln.startswith("--"))
    assert cmd.startswith("CMD [")  # exec form: signals reach the server
    for ln in lines:
        if ln.startswith("COPY "):
            sources = [t for t in ln.split()[1:-1] if not t.startswith("--")]
            for src in sources:
                assert (REPO / src).exists() or src == "models/", f"{name}: {src} does not exist"


def _first_party_imports(package: str) -> set[str]:
    """Module files of this repo that the modules of ``package`` import, transitively."""
    import ast

    seen: set[str] = set()
    todo = [str(p.relative_to(REPO)) for p in (REPO / package).rglob("*.py")]
    while todo:
        rel = todo.pop()
        if rel in seen:
            continue
        seen.add(rel)
        for node in ast.walk(ast.parse((REPO / rel).read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
            for name in names:
                path = name.replace(".", "/")
                for candidate in (f"{path}.py", f"{path}/__init__.py"):
                    if (REPO / candidate).is_file() and not candidate.startswith(package + "/"):
                        todo.append(candidate)
    return {m for m in seen if not m.startswith(package + "/")}


def test_the_rasa_image_holds_every_repo_module_the_bot_package_imports() -> None:
    copied = [t for ln in (DEPLOY / "Containerfile.rasa").read_text(encoding="utf-8").splitlines()
              if ln.startswith("COPY ") for t in ln.split()[1:-1] if not t.startswith("--")]
    needed = _first_party_imports("bot")
    assert "common/textnorm.py" in needed  # the normaliser's; the check must see through imports
    missing = [m for m in sorted(needed) if not any(m == c or (c.endswith("/") and m.startswith(c)) for c in copied)]
    assert missing == []


def _copied(name: str) -> list[str]:
    return [t for ln in (DEPLOY / name).read_text(encoding="utf-8").splitlines()
            if ln.startswith("COPY ") for t in ln.split()[1:-1] if not t.startswith("--")]


@pytest.mark.parametrize("name", ["Containerfile.app", "Containerfile.rasa"])
def test_containerfiles_copy_whole_packages_never_single_modules(name: str) -> None:
    sources = _copied(name)
    assert not [s for s in sources if s.endswith(".py")], sources
    packages = [s for s in sources if (REPO / s / "__init__.py").is_file()]
    assert "common/" in packages and all(s.endswith("/") and s.count("/") == 1 for s in packages)


def test_the_app_image_holds_every_repo_module_its_servers_import() -> None:
    copied = _copied("Containerfile.app")
    needed = set().union(*(_first_party_imports(p) for p in ("server", "actions", "channels")))
    assert "casework/repository.py" in needed and "console/web/__init__.py" in needed
    missing = [m for m in sorted(needed) if not any(m.startswith(c) for c in copied if c.endswith("/"))]
    assert missing == []
    assert not any(c.startswith(("devtools", "tests", "bench", "bot")) for c in copied)


def test_the_compose_nginx_config_is_the_rendered_template() -> None:
    committed = (DEPLOY / "nginx" / "compose.conf").read_text(encoding="utf-8").split("\n", 1)[1]
    assert committed == render_compose_nginx()


@pytest.mark.skipif(_binary("nginx") is None, reason="nginx not installed (apt-get install nginx)")
def test_the_rendered_nginx_config_passes_nginx_t(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "tmp").mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(render_nginx_conf(Ports(), tmp_path, worker_user=""), encoding="utf-8")
    out = subprocess.run([str(_binary("nginx")), "-t", "-p", str(tmp_path), "-c", str(conf)], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    assert "{{" not in conf.read_text() and NGINX_TEMPLATE.exists()


@pytest.mark.skipif(rasa_venv_missing() is not None, reason=rasa_venv_missing() or "")
def test_rasa_reads_the_production_endpoints_with_the_masking_store_and_redis_locks() -> None:
    values = {**{v: "1" for v in endpoint_vars()}, "TRACKER_DB_URL": "postgresql://u@h/tracker",
              "ACTION_ENDPOINT_URL": "http://actions:5055/webhook", "REDIS_HOST": "redis"}
    env = rasa_env(**values)
    code = ("import json; from rasa.core.utils import read_endpoints_from_path as r;"
            f"e = r({str(PROD_ENDPOINTS)!r});"
            "print(json.dumps([e.tracker_store.type, e.tracker_store.url, e.lock_store.type, e.lock_store.url,"
            " e.action.url, e.action.headers]))")
    out = subprocess.run([str(RASA_PY), "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [
        "bot.tracker_store.MaskingSQLTrackerStore", "postgresql://u@h/tracker", "redis", "redis",
        "http://actions:5055/webhook", {"X-Action-Token": "1"}]
