"""The production profile on one machine: PostgreSQL, Redis, nginx and the bot's servers.

Used by ``scripts/run_prod.py`` (``make run-prod``) and by the reliability tests
(``tests/prod``), which start the same stack on free ports in a temp directory.

Topology (every listener on 127.0.0.1)::

    citizens/channels ──► nginx :public ──► app server (waitress)
    app server (RASA_URL) ──► nginx :core ──► rasa-1, rasa-2   (round robin, failover)
    rasa-1/2 (ACTION_ENDPOINT_URL) ──► nginx :actions ──► actions-1, actions-2
    rasa-1/2 ──► PostgreSQL "tracker" (masked SQL tracker store) + Redis lock store
    app, actions ──► PostgreSQL "knowledge" (KNOWLEDGE_DB_URL), "channels" (CHANNELS_DB_URL)
    app ──► Redis (CHANNELS_REDIS_URL: webhook dedupe and rate limits)

Every listener still needs its secret, as off-loopback: PostgreSQL password authentication
(SCRAM-SHA-256, no trust), Redis ``requirepass``, ``RELAY_TOKEN`` on the relays,
``ACTION_SERVER_TOKEN`` on the action servers, Rasa's HTTP API behind ``--auth-token``, and
``DEPLOY_PROFILE=production`` so every server refuses to start without its secrets. Each
value comes from the environment, else is generated once into ``<root>/secrets/`` (0600).

Both Rasa servers share every action server through nginx, so one dead action server
is invisible; when none answers, nginx gives Rasa an action response that utters
``utter_service_unavailable`` (the domain's apology) instead of an error.

PostgreSQL refuses to run as root and Redis should not, so as root they run as the
``postgres`` and ``redis`` system users (Debian's packages create them), with their data
under ``<root>/pg`` and ``<root>/redis``. nginx's master runs as the caller, its
workers as ``www-data`` when the caller is root.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from common.secret_env import install_secret
from devtools.supervisor import APP_PY, RASA_BIN, RASA_PY, REPO, Service, free_port, rasa_command, wait_http, wait_port

NGINX_TEMPLATE = REPO / "deploy" / "nginx" / "nginx.conf.template"
PROD_ENDPOINTS = REPO / "deploy" / "endpoints.prod.yml"
RASA_LOGGING = REPO / "deploy" / "logging" / "rasa.yml"
DATABASES = ("knowledge", "tracker", "channels")
# Secrets of the profile: from the environment, else generated once per stack root.
STACK_SECRETS = ("POSTGRES_PASSWORD", "REDIS_PASSWORD", "RELAY_TOKEN", "ACTION_SERVER_TOKEN", "STAFF_SECRET_KEY",
                 "SENDER_HASH_SALT", "RASA_API_TOKEN")

log = logging.getLogger("prod_stack")


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in ("/usr/sbin", "/usr/bin", "/usr/local/sbin"):
        if Path(d, name).exists():
            return str(Path(d, name))
    return None


def pg_bindir() -> Path | None:
    """Debian's PostgreSQL server binaries, newest version first."""
    for cand in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(cand, "initdb").exists() and Path(cand, "postgres").exists():
            return Path(cand)
    return None


def missing_binaries() -> str | None:
    """Why the stack cannot start here (missing packages or venvs), or None."""
    missing = []
    if pg_bindir() is None:
        missing.append("postgresql")
    if _binary("redis-server") is None:
        missing.append("redis-server")
    if _binary("nginx") is None:
        missing.append("nginx")
    if missing:
        return f"missing Debian packages: apt-get install -y {' '.join(missing)}"
    if not RASA_BIN.exists() or not APP_PY.exists():
        return "the virtualenvs are missing: run `make setup`"
    if os.geteuid() == 0:
        for user in ("postgres", "redis"):
            try:
                pwd.getpwnam(user)
            except KeyError:
                return f"running as root and there is no '{user}' system user"
    return None


def _as_user(user: str, cmd: list[str]) -> list[str]:
    return ["runuser", "-u", user, "--", *cmd] if os.geteuid() == 0 else cmd


def _run_as(user: str) -> str | None:
    """The user a server should run as: ``user`` when we are root, else ourselves."""
    return user if os.geteuid() == 0 else None


def _hand_to(user: str, path: Path) -> None:
    """Let ``user`` own ``path`` and reach it (root only)."""
    if os.geteuid() != 0:
        return
    pw = pwd.getpwnam(user)
    for sub in [path, *path.rglob("*")]:
        os.chown(sub, pw.pw_uid, pw.pw_gid)
    for parent in path.parents:
        if parent == Path("/"):
            break
        mode = os.stat(parent).st_mode
        if mode & 0o005 != 0o005:
            os.chmod(parent, mode | 0o005)  # traverse only: o+rx on the ancestors


@dataclass
class Ports:
    """Every port of the stack."""

    public: int = 8000
    core: int = 5005
    actions: int = 5055
    app: int = 8001
    rasa: tuple[int, ...] = (5006, 5007)
    action_servers: tuple[int, ...] = (5056, 5057)
    postgres: int = 5433
    redis: int = 6380

    @classmethod
    def free(cls, rasa: int = 2, actions: int = 2) -> Ports:
        """All ports free right now (tests)."""
        return cls(free_port(), free_port(), free_port(), free_port(), tuple(free_port() for _ in range(rasa)),
                   tuple(free_port() for _ in range(actions)), free_port(), free_port())


@dataclass
class ProdStack:
    """The whole production profile rooted at ``root`` (data, logs, generated configs).

    Args:
        root: state directory (``var/prod`` for ``make run-prod``; a temp dir in tests).
        model: the trained Rasa model to serve.
        ports: where everything listens.
        extra_env: added to every bot process's environment (tests: sampling knobs).
    """

    root: Path
    model: Path
    ports: Ports = field(default_factory=Ports)
    extra_env: dict[str, str] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)

    # -- secrets --------------------------------------------------------------------------------
    def secret(self, name: str) -> str:
        """``name`` from the environment, else this stack's generated value (``root/secrets/``, 0600)."""
        return os.environ.get(name, "").strip() or install_secret(name, self.root / "secrets")

    @property
    def relay_token(self) -> str:
        """``RELAY_TOKEN`` of the relays (the app server and the tests send it)."""
        return self.secret("RELAY_TOKEN")

    @property
    def api_token(self) -> str:
        """The ``--auth-token`` of Rasa's HTTP API (``?token=``)."""
        return self.secret("RASA_API_TOKEN")

    # -- urls -----------------------------------------------------------------------------------
    @property
    def public_url(self) -> str:
        """Nginx in front of the app server."""
        return f"http://127.0.0.1:{self.ports.public}"

    @property
    def core_url(self) -> str:
        """Nginx in front of the Rasa servers (RASA_URL of the app server)."""
        return f"http://127.0.0.1:{self.ports.core}"

    def db_url(self, name: str, driver: str = "psycopg") -> str:
        """SQLAlchemy URL of one PostgreSQL database (``driver`` '' for Rasa's psycopg2)."""
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        password = self.secret("POSTGRES_PASSWORD")
        return f"{scheme}://postgres:{password}@127.0.0.1:{self.ports.postgres}/{name}"

    @property
    def redis_url(self) -> str:
        """Redis for the channels' dedupe keys (db 0); Rasa's lock store uses db 1."""
        return f"redis://:{self.secret('REDIS_PASSWORD')}@127.0.0.1:{self.ports.redis}/0"

    # -- environment ----------------------------------------------------------------------------
    def pii_key(self) -> str:
        """``TRACKER_PII_KEY`` from the environment, else a key kept in ``root`` (created once)."""
        if os.environ.get("TRACKER_PII_KEY"):
            return os.environ["TRACKER_PII_KEY"]
        path = self.root / "tracker_pii.key"
        if not path.exists():
            out = subprocess.run([str(RASA_PY), "-c", "from cryptography.fernet import Fernet;"
                                  "print(Fernet.generate_key().decode())"], capture_output=True, text=True, check=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(out.stdout.strip() + "\n")
        return path.read_text().strip()

    def env(self) -> dict[str, str]:
        """Environment shared by the app, action and Rasa servers."""
        env = {**os.environ, "PYTHONPATH": str(REPO), "RASA_TELEMETRY_ENABLED": "false",
               "SQLALCHEMY_SILENCE_UBER_WARNING": "1", "LOG_FORMAT": "json",
               "KNOWLEDGE_DB_URL": self.db_url("knowledge"), "CHANNELS_DB_URL": self.db_url("channels"),
               "CHANNELS_REDIS_URL": self.redis_url, "RASA_URL": self.core_url,
               "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{self.ports.actions}/webhook",
               "TRACKER_DB_URL": self.db_url("tracker", driver=""), "TRACKER_PII_KEY": self.pii_key(),
               "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(self.ports.redis), "REDIS_LOCK_DB": "1",
               "REDIS_PASSWORD": self.secret("REDIS_PASSWORD"), "SANIC_HOST": "127.0.0.1",
               "DEPLOY_PROFILE": "production", "RELAY_TOKEN": self.relay_token,
               "ACTION_SERVER_TOKEN": self.secret("ACTION_SERVER_TOKEN"), "RASA_API_TOKEN": self.api_token,
               "STAFF_SECRET_KEY": self.secret("STAFF_SECRET_KEY"), "SENDER_HASH_SALT": self.secret("SENDER_HASH_SALT"),
               "DEV_SMS_SINK": str(self.root / "dev_sms.jsonl"),  # phone codes while no SMS provider is set
               "TRUSTED_PROXIES": "127.0.0.1",  # nginx on this host: its X-Forwarded-For names the client
               "RATELIMIT_STORAGE_URI": self.redis_url,  # web chat / knowledge API limits shared by instances
               **self.extra_env}
        return env

    # -- backing services -----------------------------------------------------------------------
    def _service(self, name: str, cmd: list[str], env: dict[str, str] | None = None, **kw: object) -> Service:
        svc = Service(name, cmd, env or self.env(), self.root / "logs" / f"{name}.log", **kw)  # type: ignore[arg-type]
        self.services[name] = svc
        return svc

    def start_postgres(self) -> None:
        """Initialise (first time) and start PostgreSQL with password authentication; create the databases."""
        bindir = pg_bindir()
        assert bindir is not None
        pg = self.root / "pg"
        data = pg / "data"
        password = self.secret("POSTGRES_PASSWORD")
        if not (data / "PG_VERSION").exists():
            pg.mkdir(parents=True, exist_ok=True)
            pwfile = pg / "initdb.pw"
            fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(password + "\n")
            _hand_to("postgres", pg)
            try:
                out = subprocess.run(_as_user("postgres", [
                    str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "scram-sha-256",
                    f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C.UTF-8"]),
                    capture_output=True, text=True, timeout=120, cwd="/")
            finally:
                pwfile.unlink(missing_ok=True)
            if out.returncode != 0:
                raise RuntimeError(f"initdb failed:\n{out.stdout[-1500:]}\n{out.stderr[-1500:]}")
        _hand_to("postgres", pg)
        # SIGINT to the postmaster alone = "fast shutdown": clean, and no waiting for clients.
        svc = self._service("postgres", [
            str(bindir / "postgres"), "-D", str(data), "-p", str(self.ports.postgres), "-h", "127.0.0.1",
            "-k", str(pg), "-c", "max_connections=200", "-c", "shared_buffers=64MB"], dict(os.environ),
            user=_run_as("postgres"), stop_signal=signal.SIGINT, signal_group=False)
        svc.start()
        wait_port(self.ports.postgres, svc, 60)
        import psycopg

        _close_trust(data / "pg_hba.conf", self.ports.postgres, password, svc)

        admin = self.db_url("postgres", driver="").replace("postgresql://", "postgresql://", 1)
        for _ in range(100):
            try:
                with psycopg.connect(admin, autocommit=True) as conn:
                    existing = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
                    for name in DATABASES:
                        if name not in existing:
                            conn.execute(f'CREATE DATABASE "{name}"')
                return
            except psycopg.OperationalError:
                time.sleep(0.2)
        raise RuntimeError(f"PostgreSQL accepted no connection:\n{svc.tail()}")

    def start_redis(self) -> None:
        """Start Redis with append-only persistence in ``root/redis``."""
        data = self.root / "redis"
        data.mkdir(parents=True, exist_ok=True)
        _hand_to("redis", data)
        redis_server = _binary("redis-server")
        assert redis_server is not None
        cmd = [redis_server, "--bind", "127.0.0.1", "--port", str(self.ports.redis), "--dir", str(data),
               "--appendonly", "yes", "--save", "", "--daemonize", "no", "--protected-mode", "yes",
               "--logfile", "", "--requirepass", self.secret("REDIS_PASSWORD")]
        svc = self._service("redis", cmd, dict(os.environ), user=_run_as("redis"))
        svc.start()
        wait_port(self.ports.redis, svc, 30)

    def render_nginx(self) -> Path:
        """Write ``root/nginx/nginx.conf`` from the template and check it with ``nginx -t``."""
        ng = self.root / "nginx"
        for sub in ("logs", "tmp"):
            (ng / sub).mkdir(parents=True, exist_ok=True)
        conf = render_nginx_conf(self.ports, ng)
        path = ng / "nginx.conf"
        path.write_text(conf, encoding="utf-8")
        if os.geteuid() == 0:
            _hand_to("www-data", ng / "tmp")
        nginx = _binary("nginx")
        assert nginx is not None
        out = subprocess.run([nginx, "-t", "-p", str(ng), "-c", str(path)], capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"nginx -t failed:\n{out.stderr}")
        return path

    def start_nginx(self) -> None:
        """Start nginx (foreground master) with the rendered configuration."""
        path = self.render_nginx()
        nginx = _binary("nginx")
        assert nginx is not None
        svc = self._service("nginx", [nginx, "-p", str(path.parent), "-c", str(path), "-g", "daemon off;"],
                            dict(os.environ))
        svc.start()
        wait_port(self.ports.public, svc, 20)

    # -- the bot --------------------------------------------------------------------------------
    def migrate(self) -> None:
        """Alembic migrations of the knowledge database, then the seed when it is empty."""
        out = subprocess.run([str(APP_PY), "-m", "knowledge", "init-db"], cwd=REPO, env=self.env(),
                             capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            raise RuntimeError(f"migration failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")

    def retention(self) -> str:
        """Run ``python -m bot.retention`` (a no-op unless TRACKER_RETENTION_DAYS is set)."""
        out = subprocess.run([str(RASA_PY), "-m", "bot.retention", "--endpoints", str(PROD_ENDPOINTS)],
                             cwd=REPO, env=self.env(), capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            raise RuntimeError(f"retention failed:\n{out.stderr[-2000:]}")
        return out.stdout.strip()

    def action_service(self, i: int) -> Service:
        """The i-th action server (created, not started)."""
        return self._service(f"actions-{i + 1}", [str(APP_PY), "-m", "actions.serve", "--actions", "actions",
                                                  "--port", str(self.ports.action_servers[i])])

    def rasa_service(self, i: int) -> Service:
        """The i-th Rasa server (created, not started)."""
        return self._service(f"rasa-{i + 1}", rasa_command(
            self.ports.rasa[i], self.model, PROD_ENDPOINTS, api_token=self.api_token,
            extra=["--logging-config-file", str(RASA_LOGGING)]))

    def start_actions(self, i: int) -> None:
        """(Re)start action server ``i`` and wait for its health check."""
        svc = self.action_service(i)
        svc.start()
        wait_http(f"http://127.0.0.1:{self.ports.action_servers[i]}/health", svc, 120)

    def start_rasa(self, i: int, wait: bool = True) -> None:
        """(Re)start Rasa server ``i``; with ``wait``, until its model is loaded."""
        svc = self.rasa_service(i)
        svc.start()
        if wait:
            self.wait_rasa(i)

    def wait_rasa(self, i: int) -> None:
        """Wait until Rasa server ``i`` has loaded its model."""
        svc = self.services[f"rasa-{i + 1}"]
        try:
            wait_http(f"http://127.0.0.1:{self.ports.rasa[i]}/status?token={self.api_token}", svc, 300)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{svc.tail()}") from exc

    def start_app(self) -> None:
        """Start the app server (waitress) behind nginx."""
        env = {**self.env(), "APP_HOST": "127.0.0.1", "APP_PORT": str(self.ports.app)}
        svc = self._service("app", [str(APP_PY), "-m", "server"], env)
        svc.start()
        wait_http(f"http://127.0.0.1:{self.ports.app}/healthz", svc, 120)

    def start(self) -> None:
        """Start everything in dependency order (Rasa servers load their models in parallel)."""
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        self.start_postgres()
        self.start_redis()
        self.migrate()
        self.retention()
        self.start_nginx()
        for i in range(len(self.ports.action_servers)):
            self.start_actions(i)
        for i in range(len(self.ports.rasa)):
            self.start_rasa(i, wait=False)
        self.start_app()
        for i in range(len(self.ports.rasa)):
            self.wait_rasa(i)

    def stop(self) -> None:
        """Stop everything, front to back (the databases last)."""
        order = ["nginx", "app"] + [n for n in self.services if n.startswith(("rasa-", "actions-"))]
        order += ["redis", "postgres"]
        for name in order:
            svc = self.services.get(name)
            if svc is not None:
                svc.stop()

    def rss_mb(self) -> dict[str, float]:
        """Resident memory per running process (MiB), children included (nginx workers)."""
        out: dict[str, float] = {}
        for name, svc in self.services.items():
            if svc.alive() and svc.proc is not None:
                out[name] = round(_tree_rss_kb(svc.proc.pid) / 1024, 1)
        return out


def _close_trust(hba: Path, port: int, password: str, postmaster: Service) -> None:
    """A cluster made before passwords (``-A trust``): set the password, then require SCRAM and reload."""
    import psycopg
    from psycopg import sql

    text = hba.read_text(encoding="utf-8")
    if not any(line.split()[-1:] == ["trust"] for line in text.splitlines() if not line.lstrip().startswith("#")):
        return
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True) as conn:
        conn.execute("SET password_encryption = 'scram-sha-256'")
        conn.execute(sql.SQL("ALTER USER postgres PASSWORD {}").format(sql.Literal(password)))
    lines = [(line.rsplit("trust", 1)[0] + "scram-sha-256") if line.rstrip().endswith("trust")
             and not line.lstrip().startswith("#") else line for line in text.splitlines()]
    hba.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if postmaster.proc is not None:
        os.kill(postmaster.proc.pid, signal.SIGHUP)  # reload pg_hba.conf
        time.sleep(0.5)
    log.info("PostgreSQL: trust authentication replaced by scram-sha-256 in %s", hba)


def _tree_rss_kb(pid: int) -> int:
    total = 0
    pending = [pid]
    while pending:
        p = pending.pop()
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{p}/task").iterdir():
                children = (task / "children").read_text().split()
                pending.extend(int(c) for c in children)
    return total


def render_nginx_conf(ports: Ports, prefix: Path, worker_user: str | None = None, *, listen_host: str = "127.0.0.1",
                      app: list[str] | None = None, rasa: list[str] | None = None,
                      actions: list[str] | None = None) -> str:
    """The nginx configuration from ``deploy/nginx/nginx.conf.template``.

    Placeholders are ``{{NAME}}`` (nginx's own ``$variables`` stay untouched). Upstream
    servers default to the loopback ports in ``ports``; the compose file passes service
    names instead (``deploy/nginx/compose.conf`` is rendered this way).
    """
    if worker_user is None:
        worker_user = "www-data" if os.geteuid() == 0 else ""
    app = app or [f"127.0.0.1:{ports.app}"]
    rasa = rasa or [f"127.0.0.1:{p}" for p in ports.rasa]
    actions = actions or [f"127.0.0.1:{p}" for p in ports.action_servers]

    def servers(addresses: list[str]) -> str:
        # max_fails=0: a dead server refuses at once, so nginx simply tries the next one and
        # a restarted server takes traffic immediately (no quarantine period).
        return "\n".join(f"    server {a} max_fails=0;" for a in addresses)

    values = {
        "USER_DIRECTIVE": f"user {worker_user};" if worker_user else "",
        "PREFIX": str(prefix),
        "LISTEN": listen_host,
        "PUBLIC_PORT": str(ports.public),
        "CORE_PORT": str(ports.core),
        "ACTIONS_PORT": str(ports.actions),
        "APP_SERVERS": servers(app),
        "RASA_SERVERS": servers(rasa),
        "ACTION_SERVERS": servers(actions),
    }
    text = NGINX_TEMPLATE.read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    if "{{" in text:
        raise ValueError("unfilled placeholder in the nginx template")
    return text


def render_compose_nginx() -> str:
    """``deploy/nginx/compose.conf``: the same template for the compose file's services."""
    return render_nginx_conf(Ports(public=8000, core=5005, actions=5055), Path("/var/cache/nginx"), "nginx",
                             listen_host="0.0.0.0", app=["app:8000"], rasa=["rasa:5005"], actions=["actions:5055"])


@contextlib.contextmanager
def running(stack: ProdStack) -> Iterator[ProdStack]:
    """Start ``stack`` and stop it however the block ends."""
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
