"""Real, throwaway services for tests: a PostgreSQL cluster and an MLflow tracking server.

Both bind to 127.0.0.1 on a free port, live in a temporary folder and are removed when
stopped. Nothing here is mocked: the tests that use them talk to the same software a
user runs at scale (see docs/running-at-scale.md).

Where the PostgreSQL server binaries come from (``find_postgres``), first match wins:

1. ``IMBEXP_PG_BIN_DIR``, the folder holding initdb, pg_ctl and postgres (an error if it
   does not, rather than a silent fallback);
2. the system's PostgreSQL 15 (``/usr/lib/postgresql/15/bin``, the Debian package CI
   installs), else any other ``/usr/lib/postgresql/<version>/bin``, newest first;
3. the ``pgserver`` wheel from the ``test`` extra, which bundles PostgreSQL 16 binaries
   inside the package, so ``pip install -e ".[test]"`` is all a machine needs.

The cluster's version is whatever those binaries are (``PostgresService.version``).
``IMBEXP_PG_IGNORE_SYSTEM=1`` makes the launcher ignore step 2 and the system ``postgres``
user, which is how a machine with only Python and pip is reproduced on one that has both.

PostgreSQL refuses to run as root. As any other user the cluster runs as that user. As
root it runs as the ``postgres`` system user when there is one (the PostgreSQL packages
create it). Otherwise, on a machine with only Python and pip, it runs as ``nobody``, with a
private data folder handed to ``nobody``: that account exists on practically every Unix,
and borrowing it changes nothing on the machine, whereas adding a user with ``useradd``
(what pgserver itself does) writes to /etc/passwd, needs cleaning up, and is left behind
when a test run is killed. The cluster is safe under ``nobody`` because it listens on
loopback only and every login needs a random scram password. If the binaries sit where that
user cannot read them (a virtualenv under /root), they are copied into the cluster's folder
(bin, lib, share and the wheel's bundled libraries: about 28 MB for pgserver's) instead of
widening permissions on the user's home, which is what pgserver does.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import re
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

#: the system PostgreSQL the tests prefer (CI installs it with apt); others are found by glob
PG_PREFERRED_BIN_DIR = Path("/usr/lib/postgresql/15/bin")
PG_SYSTEM_BIN_GLOB = "/usr/lib/postgresql/*/bin"
PG_SYSTEM_USER = "postgres"
#: borrowed as root when there is no PostgreSQL system user (see the module docstring)
PG_FALLBACK_USER = "nobody"
PG_BINARIES = ("initdb", "pg_ctl", "postgres")
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


@dataclass(frozen=True)
class PostgresInstall:
    """A folder of PostgreSQL server binaries, and which of the places in the module docstring it is."""

    bin_dir: Path
    source: str  # "IMBEXP_PG_BIN_DIR", "system" or "pgserver" (", copied" when copied for the run user)

    def binary(self, name: str) -> Path:
        return self.bin_dir / name


def _ignore_system() -> bool:
    return os.environ.get("IMBEXP_PG_IGNORE_SYSTEM", "").strip().lower() in ("1", "true", "yes", "on")


def _has_binaries(bin_dir: Path) -> bool:
    return all((bin_dir / name).is_file() for name in PG_BINARIES)


def _system_bin_dirs() -> list[Path]:
    """The preferred system folder first, then any other installed major version, newest first."""

    def major(bin_dir: Path) -> int:
        return int(bin_dir.parent.name) if bin_dir.parent.name.isdigit() else -1

    others = sorted((Path(p) for p in glob.glob(PG_SYSTEM_BIN_GLOB)), key=major, reverse=True)
    return [PG_PREFERRED_BIN_DIR, *(d for d in others if d != PG_PREFERRED_BIN_DIR)]


def pgserver_bin_dir() -> Path | None:
    """The ``bin`` folder inside the installed pgserver wheel, or None when it is not installed.

    Found from the package's location, not by importing it: importing pgserver creates a
    lock file and runtime folders as a side effect. The layout is pgserver's own
    (``pgserver/_commands.py``: ``POSTGRES_BIN_PATH = Path(__file__).parent / "pginstall" / "bin"``),
    which is why the test extra bounds it below 0.2.
    """
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def find_postgres() -> PostgresInstall:
    """The PostgreSQL server binaries the tests use (order and reasons in the module docstring)."""
    override = os.environ.get("IMBEXP_PG_BIN_DIR", "")
    if override:
        bin_dir = Path(override)
        if not _has_binaries(bin_dir):
            missing = [name for name in PG_BINARIES if not (bin_dir / name).is_file()]
            raise ServiceError(
                f"IMBEXP_PG_BIN_DIR={override} does not hold the PostgreSQL server binaries "
                f"(missing: {', '.join(missing)}); point it at the folder with {', '.join(PG_BINARIES)}, or unset it."
            )
        return PostgresInstall(bin_dir, "IMBEXP_PG_BIN_DIR")
    if not _ignore_system():
        for bin_dir in _system_bin_dirs():
            if _has_binaries(bin_dir):
                return PostgresInstall(bin_dir, "system")
    bin_dir = pgserver_bin_dir()
    if bin_dir is not None and _has_binaries(bin_dir):
        return PostgresInstall(bin_dir, "pgserver")
    looked = "" if _ignore_system() else f"{PG_SYSTEM_BIN_GLOB}, "
    raise ServiceError(
        f"No PostgreSQL server binaries found (looked in {looked}the pgserver package). "
        "pip install -e '.[test]' installs pgserver, which bundles them (it has wheels up to CPython 3.12 "
        "on x86_64 Linux with glibc and on macOS); elsewhere install the server package "
        "(apt-get install -y postgresql-15) or set IMBEXP_PG_BIN_DIR to the folder holding initdb, pg_ctl and postgres."
    )


def _pg_run_as() -> pwd.struct_passwd | None:
    """The account PostgreSQL runs as: None (this process's own) unless this process is root."""
    if os.geteuid() != 0:
        return None
    names = ([] if _ignore_system() else [PG_SYSTEM_USER]) + [PG_FALLBACK_USER]
    for name in names:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise ServiceError(
        f"Running as root, and there is no {' or '.join(repr(n) for n in names)} user to run PostgreSQL as "
        "(it refuses to run as root). Run the tests as a non-root user, or install the PostgreSQL server "
        "package, which creates the postgres user."
    )


def _as_user(run_as: pwd.struct_passwd | None) -> dict:
    """subprocess arguments that drop root for PostgreSQL's commands (group and supplementary groups too).

    Python switches the user itself between fork and exec, so no ``runuser`` or ``su`` is needed.
    """
    if run_as is None:
        return {}
    return {"user": run_as.pw_uid, "group": run_as.pw_gid, "extra_groups": []}


def _pg_env(run_as: pwd.struct_passwd | None, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    env["LANG"] = "C"
    if run_as is not None:  # root's HOME is not the run user's to read
        env["HOME"] = str(home)
    return env


def _server_version(install: PostgresInstall, run_as: pwd.struct_passwd | None, cwd: Path) -> int:
    """Major version of ``postgres``, run as the cluster's account: proves that account can run it.

    Raises PermissionError when that account cannot reach the binary, ServiceError when the
    binary does not run (a missing shared library, say).
    """
    cmd = [str(install.binary("postgres")), "--version"]
    proc = subprocess.run(cmd, cwd=cwd, env=_pg_env(run_as, cwd), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=60, **_as_user(run_as))
    found = re.search(r"\(PostgreSQL\) (\d+)", proc.stdout)
    if proc.returncode != 0 or found is None:
        raise ServiceError(f"PostgreSQL: `{' '.join(cmd)}` failed (exit {proc.returncode}, {install.source})\n"
                           f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}")
    return int(found.group(1))


def _install_tree(install: PostgresInstall) -> tuple[Path, list[str]]:
    """The folder to copy and the parts of it a copy of ``install`` needs, laid out as they are.

    The binaries find lib/ and share/ relative to their own location, and a wheel's binaries
    find their bundled shared libraries (pgserver's libpq, in ``pgserver.libs`` beside the
    package) through an RPATH relative to it too, so the parts travel with their layout.
    """
    prefix = install.bin_dir.parent
    package = prefix.parent
    libs = package.parent / f"{package.name}.libs"
    if libs.is_dir():  # an auditwheel-repaired wheel: <site-packages>/pgserver/pginstall/bin
        inside = f"{package.name}/{prefix.name}"
        return package.parent, [f"{inside}/bin", f"{inside}/lib", f"{inside}/share", libs.name]
    return prefix, ["bin", "lib", "share"]


def _usable_install(
    install: PostgresInstall, run_as: pwd.struct_passwd | None, root: Path
) -> tuple[PostgresInstall, int]:
    """``install`` and its major version, or a private copy of it in ``root`` when ``run_as`` cannot read it."""
    try:
        return install, _server_version(install, run_as, root)
    except PermissionError as exc:
        who = run_as.pw_name if run_as is not None else "this user"
        tree, parts = _install_tree(install)
        if run_as is None or not all((tree / part).is_dir() for part in parts):
            raise ServiceError(f"PostgreSQL: {who} cannot run {install.binary('postgres')} ({exc.strerror}); "
                               "make the folder readable, or set IMBEXP_PG_BIN_DIR to a copy it can read.") from None
    # Owned by the run user, so restrictive modes from the install (umask 077) do not matter.
    copy = root / "pginstall"
    for part in parts:
        shutil.copytree(tree / part, copy / part, symlinks=True)
    for folder, _dirs, files in os.walk(copy):
        for path in [folder, *(os.path.join(folder, f) for f in files)]:
            os.chown(path, run_as.pw_uid, run_as.pw_gid, follow_symlinks=False)
    copied = PostgresInstall(copy / install.bin_dir.relative_to(tree), install.source + ", copied")
    try:
        return copied, _server_version(copied, run_as, root)
    except PermissionError as exc:
        raise ServiceError(f"PostgreSQL: {who} cannot run {copied.binary('postgres')} either "
                           f"({exc.strerror}); is {root} on a noexec filesystem?") from None


@dataclass
class PostgresService:
    """A running throwaway PostgreSQL cluster.

    ``user``/``password`` is an ordinary (non-superuser) role that owns the databases, the
    way a shared server is usually set up; ``url(db)`` gives SQLAlchemy URLs for it.
    ``install`` says which binaries run it, ``version`` is their major version and
    ``run_as`` the account the server runs as when the tests run as root.
    """

    host: str
    port: int
    user: str
    password: str
    root: Path
    install: PostgresInstall
    version: int
    run_as: pwd.struct_passwd | None
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


def _run_pg(run_as: pwd.struct_passwd | None, args: list[str], cwd: Path, what: str, log: Path | None = None) -> None:
    proc = subprocess.run(
        args, cwd=cwd, env=_pg_env(run_as, cwd), stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=120, **_as_user(run_as),
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
    install = find_postgres()
    run_as = _pg_run_as()
    _import_psycopg2()

    root = Path(tempfile.mkdtemp(prefix="imbexp-pg-"))
    try:
        os.chmod(root, 0o700)
        if run_as is not None:  # root: hand the folder to the account the server runs as
            os.chown(root, run_as.pw_uid, run_as.pw_gid)
        install, version = _usable_install(install, run_as, root)

        admin_password = "adm" + secrets.token_hex(16)
        password = "pw" + secrets.token_hex(16)
        pwfile = root / "pwfile"
        pwfile.write_text(admin_password + "\n")
        os.chmod(pwfile, 0o600)
        if run_as is not None:
            os.chown(pwfile, run_as.pw_uid, run_as.pw_gid)

        data_dir = root / "data"
        log_path = root / "postgres.log"
        try:
            _run_pg(
                run_as,
                [
                    str(install.binary("initdb")),
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
                    run_as,
                    [
                        str(install.binary("pg_ctl")),
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
            install=install,
            version=version,
            run_as=run_as,
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
        _stop_postgres_at(root, install, run_as)
        raise


def _stop_postgres_at(root: Path, install: PostgresInstall, run_as: pwd.struct_passwd | None) -> None:
    data_dir = root / "data"
    if (data_dir / "postmaster.pid").exists():
        subprocess.run(
            [str(install.binary("pg_ctl")), "-D", str(data_dir), "-m", "fast", "-w", "-t", "30", "stop"],
            cwd=root,
            env=_pg_env(run_as, root),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
            **_as_user(run_as),
        )
    shutil.rmtree(root, ignore_errors=True)


def stop_postgres(service: PostgresService) -> None:
    """Stop the cluster and delete its folder (data, socket, log)."""
    _stop_postgres_at(service.root, service.install, service.run_as)


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
