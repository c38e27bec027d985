"""Real, throwaway services for tests: a PostgreSQL 15 cluster and an MLflow tracking server.

Both bind to 127.0.0.1 on a free port, live in a temporary folder and are removed when
stopped. Nothing here is mocked: the tests that use them talk to the same software a
user runs at scale (see docs/running-at-scale.md).

PostgreSQL refuses to run as root, so when the tests run as root the cluster is created
and run as the ``postgres`` system user (``runuser``); as any other user it runs as that
user. Missing binaries or a missing ``postgres`` user are reported as a loud error, not a
skip: CI installs what is needed.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

PG_VERSION = 15
PG_BIN_DIR = Path(os.environ.get("IMBEXP_PG_BIN_DIR", f"/usr/lib/postgresql/{PG_VERSION}/bin"))
PG_SYSTEM_USER = "postgres"
LOOPBACK = "127.0.0.1"

# Databases every cluster gets; tests may add more with PostgresService.create_database().
DEFAULT_DATABASES = ("optuna", "mlflow")


class ServiceError(RuntimeError):
    """A test service could not be started; the message carries the service's log."""


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that is free on ``host`` right now (the caller retries if it is taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _tail(path: Path, max_chars: int = 6000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<log {path} unreadable: {exc}>"
    if len(text) > max_chars:
        text = "...\n" + text[-max_chars:]
    return text or "<empty log>"


def _redact(text: str, secrets_: Sequence[str]) -> str:
    for value in secrets_:
        if value:
            text = text.replace(value, "***")
    return text


# --------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------


@dataclass
class PostgresService:
    """A running throwaway PostgreSQL cluster.

    ``user``/``password`` is an ordinary (non-superuser) role that owns the databases, the
    way a shared server is usually set up; ``url(db)`` gives SQLAlchemy URLs for it.
    """

    host: str
    port: int
    user: str
    password: str
    root: Path
    databases: list[str] = field(default_factory=list)
    admin_user: str = "postgres"
    admin_password: str = ""
    driver: str = "psycopg2"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    def url(self, database: str, *, driver: str | None = None, with_password: bool = True) -> str:
        """``postgresql+psycopg2://user:pass@127.0.0.1:PORT/database``."""
        drv = driver or self.driver
        scheme = f"postgresql+{drv}" if drv else "postgresql"
        auth = quote(self.user, safe="")
        if with_password:
            auth += ":" + quote(self.password, safe="")
        return f"{scheme}://{auth}@{self.host}:{self.port}/{database}"

    @property
    def optuna_url(self) -> str:
        return self.url("optuna")

    @property
    def mlflow_url(self) -> str:
        return self.url("mlflow")

    def admin_connect(self, database: str = "postgres"):
        """A psycopg2 connection as the cluster superuser (autocommit)."""
        psycopg2 = _import_psycopg2()
        conn = psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.admin_user,
            password=self.admin_password,
            dbname=database,
            connect_timeout=10,
        )
        conn.autocommit = True
        return conn

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database owned by ``user`` and return its URL (for test isolation)."""
        name = name or f"db_{secrets.token_hex(4)}"
        if not name.replace("_", "").isalnum() or not name[0].isalpha():
            raise ValueError(f"unsafe database name: {name!r}")
        conn = self.admin_connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}" OWNER "{self.user}"')
        finally:
            conn.close()
        self.databases.append(name)
        return self.url(name)


def _import_psycopg2():
    try:
        import psycopg2
    except ImportError as exc:  # pragma: no cover - environment problem
        raise ServiceError(
            "psycopg2 is not installed; install the PostgreSQL extra: pip install -e '.[test,postgres]'"
        ) from exc
    return psycopg2


def _pg_command_prefix() -> list[str]:
    """How to run PostgreSQL binaries: directly, or as the postgres user when we are root."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser is None:
        raise ServiceError(
            "Running as root but `runuser` is missing, so PostgreSQL (which refuses to run as root) "
            f"cannot be started as the {PG_SYSTEM_USER!r} user. Install util-linux, or run the tests "
            "as a non-root user."
        )
    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        raise ServiceError(
            f"Running as root but there is no {PG_SYSTEM_USER!r} system user to run PostgreSQL as. "
            f"Install the PostgreSQL {PG_VERSION} server (apt-get install postgresql-{PG_VERSION}), "
            "which creates it, or run the tests as a non-root user."
        ) from None
    return [runuser, "-u", PG_SYSTEM_USER, "--"]


def _check_pg_binaries() -> None:
    missing = [name for name in ("initdb", "pg_ctl", "postgres") if not (PG_BIN_DIR / name).is_file()]
    if missing:
        raise ServiceError(
            f"PostgreSQL {PG_VERSION} server binaries not found in {PG_BIN_DIR} (missing: {', '.join(missing)}). "
            f"Install them with: apt-get install -y postgresql-{PG_VERSION} "
            "(or set IMBEXP_PG_BIN_DIR to the folder holding initdb, pg_ctl and postgres)."
        )


def _run_pg(prefix: list[str], args: list[str], cwd: Path, what: str, log: Path | None = None) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    env["LANG"] = "C"
    proc = subprocess.run(
        prefix + args, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120
    )
    if proc.returncode != 0:
        details = f"$ {' '.join(args)}\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
        if log is not None and log.exists():
            details += f"\n--- server log ({log}) ---\n{_tail(log)}"
        raise ServiceError(f"PostgreSQL: {what} failed (exit {proc.returncode})\n{details}")


def start_postgres(
    databases: Sequence[str] = DEFAULT_DATABASES,
    *,
    user: str = "imbexp",
    max_connections: int = 200,
    start_timeout: float = 60.0,
    attempts: int = 3,
) -> PostgresService:
    """initdb + start a PostgreSQL cluster on 127.0.0.1:<free port> with scram password auth.

    Creates role ``user`` with a random password and ``databases`` owned by it. Durability
    is switched off (fsync, synchronous_commit, full_page_writes): the cluster is thrown
    away, and the tests measure concurrency, not disks.
    """
    _check_pg_binaries()
    prefix = _pg_command_prefix()
    _import_psycopg2()

    root = Path(tempfile.mkdtemp(prefix="imbexp-pg-"))
    try:
        os.chmod(root, 0o700)
        if prefix:  # root: hand the folder to the postgres user
            pw = pwd.getpwnam(PG_SYSTEM_USER)
            os.chown(root, pw.pw_uid, pw.pw_gid)

        admin_password = "adm" + secrets.token_hex(16)
        password = "pw" + secrets.token_hex(16)
        pwfile = root / "pwfile"
        pwfile.write_text(admin_password + "\n")
        os.chmod(pwfile, 0o600)
        if prefix:
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)

        data_dir = root / "data"
        log_path = root / "postgres.log"
        try:
            _run_pg(
                prefix,
                [
                    str(PG_BIN_DIR / "initdb"),
                    "-D", str(data_dir),
                    "--username=postgres",
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--no-locale",
                    "--no-sync",
                ],
                cwd=root,
                what="initdb",
            )
        finally:
            pwfile.unlink(missing_ok=True)

        options = {
            "listen_addresses": LOOPBACK,
            "unix_socket_directories": str(root),  # private folder, not /var/run/postgresql
            "password_encryption": "scram-sha-256",
            "max_connections": str(max_connections),
            "shared_buffers": "64MB",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "log_min_messages": "warning",
        }
        last_error: ServiceError | None = None
        for _ in range(attempts):
            port = free_port()
            opts = " ".join(f"-c {k}={v}" for k, v in options.items()) + f" -c port={port}"
            try:
                _run_pg(
                    prefix,
                    [
                        str(PG_BIN_DIR / "pg_ctl"),
                        "-D", str(data_dir),
                        "-l", str(log_path),
                        "-o", opts,
                        "-w", "-t", str(int(start_timeout)),
                        "start",
                    ],
                    cwd=root,
                    what=f"pg_ctl start on {LOOPBACK}:{port}",
                    log=log_path,
                )
                break
            except ServiceError as exc:  # most likely the port was taken in between
                last_error = exc
        else:
            raise last_error  # type: ignore[misc]

        service = PostgresService(
            host=LOOPBACK,
            port=port,
            user=user,
            password=password,
            root=root,
            admin_password=admin_password,
        )
        conn = service.admin_connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f"CREATE ROLE \"{user}\" LOGIN PASSWORD %s", (password,))
        finally:
            conn.close()
        for name in databases:
            service.create_database(name)
        return service
    except BaseException:
        _stop_postgres_at(root, prefix)
        raise


def _stop_postgres_at(root: Path, prefix: list[str]) -> None:
    data_dir = root / "data"
    if (data_dir / "postmaster.pid").exists():
        subprocess.run(
            prefix + [str(PG_BIN_DIR / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "-t", "30", "stop"],
            cwd=root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
        )
    shutil.rmtree(root, ignore_errors=True)


def stop_postgres(service: PostgresService) -> None:
    """Stop the cluster and delete its folder (data, socket, log)."""
    _stop_postgres_at(service.root, _pg_command_prefix())


# --------------------------------------------------------------------------------------
# MLflow tracking server
# --------------------------------------------------------------------------------------


@dataclass
class MlflowServer:
    """A running ``mlflow server`` (its own process group)."""

    url: str
    port: int
    root: Path
    process: subprocess.Popen
    secrets: tuple[str, ...] = ()

    @property
    def artifacts_dir(self) -> Path:
        return self.root / "artifacts"

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    def log_text(self) -> str:
        return _redact(self.log_path.read_text(errors="replace"), self.secrets) if self.log_path.exists() else ""


def quiet_mlflow_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for MLflow processes in tests: no telemetry, no stray tracking settings."""
    env = dict(os.environ if base is None else base)
    for key in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID"):
        env.pop(key, None)
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env["DO_NOT_TRACK"] = "true"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _health_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def start_mlflow_server(
    backend_store_uri: str,
    *,
    workers: int = 1,
    job_execution: bool = False,
    start_timeout: float = 120.0,
    secrets: Sequence[str] = (),
    attempts: int = 2,
) -> MlflowServer:
    """Start ``mlflow server`` on 127.0.0.1:<free port> and wait for ``/health``.

    One uvicorn worker by default: it serves concurrent requests from a thread pool, each
    with its own database session, which is what concurrent writers need, and it leaves
    the cores to the processes under test.

    Artifacts are proxied by the server (``--serve-artifacts``) into a local temporary
    folder, so clients on other machines need no shared filesystem. The backend URI is
    passed through the environment (``MLFLOW_BACKEND_STORE_URI``), not the command line,
    so its password does not show in process listings. ``secrets`` are masked in error
    messages. MLflow 3's background job runner (huey consumers for GenAI scorers) is off
    unless ``job_execution``: experiment tracking does not use it and it costs a handful of
    processes.
    """
    search_path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    mlflow_exe = shutil.which("mlflow", path=search_path)
    if mlflow_exe is None:
        raise ServiceError("the `mlflow` command is not on PATH (is the project's virtualenv active?)")
    secrets = tuple(secrets)
    _check_database(backend_store_uri, secrets)
    root = Path(tempfile.mkdtemp(prefix="imbexp-mlflow-"))
    (root / "artifacts").mkdir()
    last_error: ServiceError | None = None
    for _ in range(attempts):
        port = free_port()
        url = f"http://{LOOPBACK}:{port}"
        cmd = [
            mlflow_exe,
            "server",
            "--host", LOOPBACK,
            "--port", str(port),
            "--workers", str(workers),
            "--serve-artifacts",
            "--artifacts-destination", str(root / "artifacts"),
            "--default-artifact-root", "mlflow-artifacts:/",
            # Host-header check (DNS-rebinding protection) limited to this loopback server.
            "--allowed-hosts", f"{LOOPBACK}:{port},{LOOPBACK},localhost:{port},localhost",
        ]
        env = quiet_mlflow_env()
        env["MLFLOW_BACKEND_STORE_URI"] = backend_store_uri
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "true" if job_execution else "false"
        log_path = root / "server.log"
        log = open(log_path, "ab")  # noqa: SIM115 - the child keeps writing to it
        try:
            proc = subprocess.Popen(
                cmd, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: uvicorn workers die with it
            )
        finally:
            log.close()
        server = MlflowServer(url=url, port=port, root=root, process=proc, secrets=secrets)
        deadline = time.monotonic() + start_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if _health_ok(url):
                return server
            time.sleep(0.3)
        exit_code = proc.poll()
        _kill_group(proc)
        reason = f"exited with code {exit_code}" if exit_code is not None else f"no /health after {start_timeout:.0f} s"
        last_error = ServiceError(
            f"mlflow server on {url} {reason}\n$ {' '.join(cmd)}\n--- server log ({log_path}) ---\n"
            + _redact(_tail(log_path), secrets)
        )
        port_taken = "address already in use" in _tail(log_path).lower()
        if not port_taken:  # only a port grabbed by someone else in between is worth a retry
            break
    shutil.rmtree(root, ignore_errors=True)
    raise last_error  # type: ignore[misc]


def _check_database(uri: str, secrets: Sequence[str]) -> None:
    """Fail fast on a database the server could not use (MLflow itself retries for minutes)."""
    if not uri.startswith("postgresql"):
        return
    import sqlalchemy as sa

    engine = sa.create_engine(uri, connect_args={"connect_timeout": 10})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        raise ServiceError(f"the MLflow backend store is not reachable: {_redact(str(exc), secrets)}") from None
    finally:
        engine.dispose()


def _kill_group(proc: subprocess.Popen, grace: float = 3.0) -> None:
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        pgid = None
    if pgid is not None:
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    if pgid is not None:
        try:  # leftovers (uvicorn workers, job runners) and a parent that ignored SIGTERM
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def stop_mlflow_server(server: MlflowServer) -> None:
    """Terminate the server and all its children, then delete its folder (artifacts, log)."""
    _kill_group(server.process)
    shutil.rmtree(server.root, ignore_errors=True)
