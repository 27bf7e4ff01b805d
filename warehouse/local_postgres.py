"""A throwaway local Postgres owned by the project, for DBT_TARGET=postgres when no PGHOST is given.

The server binaries (Postgres 16 with pgvector) come from the PyPI package `pgserver`; this module drives them
itself (`initdb`, `pg_ctl`) instead of `pgserver.get_server`, because that one listens on a Unix socket only and
stops the server when the creating process exits, while `make run` is a chain of processes (land, dbt, the
Python steps, dbt again) that must all reach the same server:

- data in `.engines/postgres/data` (git-ignored), log in `.engines/postgres/postgres.log`;
- listens on 127.0.0.1 only, on a free port picked at first start and kept in `.engines/postgres/server.json`
  (the same port on every restart while it stays free), no Unix socket;
- `pg_ctl start` detaches the postmaster (own session), so it outlives every step; `stop()` (`make stop`) ends it;
- trust authentication, loopback only: a scratch database for one developer or CI run, never a shared one;
- Postgres refuses to run as root: as root, the server runs as the system user `pgserver` (the user the
  pgserver package itself creates) with its own group only, which owns the state folder; every parent folder of
  it and of the binaries gets the search (x) bit that applies to that user, so a checkout in a private folder
  (`mktemp -d`, /root) works.

`connection(settings.postgres_server)` is what everything else calls: the PG* settings when PGHOST is set (an
external server, never started nor stopped here), else this server, started if needed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pwd
import shutil
import socket
import stat
import subprocess
import time
from pathlib import Path

from core.settings import LOCAL_DATABASE as DATABASE
from core.settings import LOCAL_USER as USER
from core.settings import PROJECT_ROOT, PostgresServer
from warehouse.postgres import create_database

STATE_DIR = PROJECT_ROOT / ".engines" / "postgres"
SERVICE_USER = "pgserver"


class EngineError(RuntimeError):
    """The local server could not be started or reached; the message says why (with the log's tail)."""


def _bin(name: str) -> Path:
    # the package's binaries only: importing pgserver itself would set up its own process locks
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise EngineError("the PyPI package pgserver (Postgres 16 + pgvector binaries) is not installed")
    path = Path(spec.submodule_search_locations[0]) / "pginstall" / "bin" / name
    if not path.exists():
        raise EngineError(f"{path} missing: the pgserver package ships no server for this platform")
    return path


def _service_account() -> pwd.struct_passwd | None:
    """The account the server binaries run as: the system user `pgserver` when we are root, else None (ourselves)."""
    return pwd.getpwnam(SERVICE_USER) if os.geteuid() == 0 else None


def _run_as_owner(args: list[str], data_dir: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run a server binary as the data folder's owner (not root), output captured into the error if it fails."""
    account = _service_account()
    # with the service user's own group and no supplementary ones: left with root's (gid 0), the group bits of a
    # root:root parent (--- on a 700 `mktemp -d` folder) would apply instead of the bit _ensure_service_user grants;
    # pg_ctl's detached postmaster inherits these credentials
    as_owner = {} if account is None else {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    result = subprocess.run(
        [str(a) for a in args],
        cwd=data_dir.parent,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        **as_owner,
    )
    if result.returncode != 0:
        raise EngineError(f"{' '.join(map(str, args))} failed (exit {result.returncode}):\n{result.stdout[-3000:]}")
    return result


def _grant_search(folder: Path, uid: int, gid: int) -> None:
    """x on `folder` for a process of uid/gid without supplementary groups: the owner, group or other bit, the one
    the kernel checks for it (only that class: a private folder stays unlistable)."""
    info = folder.stat()
    bit = 0o100 if info.st_uid == uid else 0o010 if info.st_gid == gid else 0o001
    if not info.st_mode & bit:
        folder.chmod(stat.S_IMODE(info.st_mode) | bit)


def _ensure_service_user(state_dir: Path) -> None:
    if os.geteuid() != 0:
        return
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],
            check=True,
            capture_output=True,
        )
    entry = pwd.getpwnam(SERVICE_USER)
    os.chown(state_dir, entry.pw_uid, entry.pw_gid)  # initdb makes data/ in it, the postmaster writes the log there
    # the service user must reach the state folder and the binaries: every parent, along the path as given and
    # along the resolved one (a symlinked .venv or checkout is traversed on both)
    paths = (Path(state_dir).absolute(), _bin("postgres").absolute())
    folders = [folder for path in paths for start in (path, path.resolve()) for folder in start.parents]
    for folder in dict.fromkeys([Path(state_dir).absolute(), *folders]):
        _grant_search(folder, entry.pw_uid, entry.pw_gid)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Postgres binds: TIME_WAIT is free
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class LocalPostgres:
    """The project's local server under `state_dir`; every method is safe to call from any process."""

    def __init__(self, state_dir: Path = STATE_DIR):
        self.state_dir = Path(state_dir)
        self.data_dir = self.state_dir / "data"
        self.log = self.state_dir / "postgres.log"
        self.state_file = self.state_dir / "server.json"

    # -- state
    def _postmaster(self) -> dict | None:
        """pid, port and status from data/postmaster.pid when that process is alive, else None."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None
        if len(lines) < 8:
            return None
        pid = int(lines[0])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return {"pid": pid, "port": int(lines[3]), "status": lines[7].strip()}

    def pid(self) -> int | None:
        """The postmaster's process id while it runs (its backends are its children)."""
        info = self._postmaster()
        return None if info is None else info["pid"]

    def running(self) -> bool:
        info = self._postmaster()
        return info is not None and info["status"] == "ready"

    def connection(self) -> PostgresServer:
        info = self._postmaster()
        if info is None:
            raise EngineError(f"the local Postgres under {self.state_dir} is not running")
        return PostgresServer("127.0.0.1", info["port"], USER, "", DATABASE)

    # -- life cycle
    def start(self) -> PostgresServer:
        """Start the server (initialising the data folder the first time), or reuse the running one."""
        if self.running():
            return self.connection()
        started = time.perf_counter()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        _ensure_service_user(self.state_dir)
        if not (self.data_dir / "PG_VERSION").exists():
            if self.data_dir.exists():
                shutil.rmtree(self.data_dir)  # a half-made folder from an interrupted initdb
            # C locale: byte-order string comparisons, as DuckDB's (min(), order by, group by give the same)
            _run_as_owner(
                [
                    _bin("initdb"),
                    "-D",
                    self.data_dir,
                    "-U",
                    USER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-instructions",
                ],
                self.data_dir,
            )
        port = self._port()
        options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories=''"
        account = _service_account()
        if account is not None and self.log.exists():  # the postmaster appends to it (made by root before)
            os.chown(self.log, account.pw_uid, account.pw_gid)
        try:
            _run_as_owner(
                [_bin("pg_ctl"), "-D", self.data_dir, "-l", self.log, "-o", options, "-w", "-t", "60", "start"],
                self.data_dir,
                timeout=90,
            )
        except EngineError as exc:
            tail = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise EngineError(f"{exc}\n--- {self.log}:\n{tail}") from None
        connection = self.connection()
        self._create_database(connection)
        self.state_file.write_text(
            json.dumps(
                {
                    "port": connection.port,
                    "url": connection.url(),
                    "data_dir": str(self.data_dir),
                    "started_seconds": round(time.perf_counter() - started, 2),
                },
                indent=2,
            )
            + "\n"
        )
        return connection

    def _port(self) -> int:
        """The port used before, while it is still free; a new free one otherwise."""
        try:
            port = int(json.loads(self.state_file.read_text())["port"])
        except (FileNotFoundError, KeyError, ValueError):
            return free_port()
        return port if _port_is_free(port) else free_port()

    def _create_database(self, connection: PostgresServer) -> None:
        create_database(connection, DATABASE)

    def stop(self) -> bool:
        """Stop the server if it runs (fast shutdown: open sessions are rolled back). True when it was running."""
        if self._postmaster() is None:
            return False
        _run_as_owner([_bin("pg_ctl"), "-D", self.data_dir, "-m", "fast", "-w", "stop"], self.data_dir)
        return True


def stop_all(engines_dir: Path = STATE_DIR.parent) -> list[str]:
    """Stop every local server with its state under `engines_dir` (`make stop`: the one DBT_TARGET=postgres uses and
    any a test module left running when it was interrupted); the names of those that were running."""
    servers = [LocalPostgres(data.parent) for data in sorted(Path(engines_dir).glob("*/data"))]
    return [server.state_dir.name for server in servers if server.stop()]


def connection(external: PostgresServer | None, state_dir: Path = STATE_DIR) -> PostgresServer:
    """Where DBT_TARGET=postgres writes: `external` (Settings.postgres_server, from PG* when PGHOST is set), else
    the local server (started or reused)."""
    return external if external is not None else LocalPostgres(state_dir).start()
