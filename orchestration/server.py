"""`python -m orchestration start|stop|status`: the orchestrator on this machine (`make orchestrate`, `make stop`).

`start` writes the instance's configuration (dagster.yaml) into ORCHESTRATOR_HOME, parses the dbt project once
into its manifest, then starts `dagster dev` (the UI on 127.0.0.1:ORCHESTRATOR_PORT, the daemon that runs the
sensors and the run queue, the code server) in a process group of its own, and returns when the UI answers.
`stop` stops that process group, whatever it started. The run queue runs one run at a time: DuckDB has one writer,
the Postgres warehouse a writer lock, so a second build waits in the queue instead of failing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from core.settings import PostgresServer, Settings
from orchestration.dbt_graph import prepare_manifest
from warehouse import target_warehouse
from warehouse.local_postgres import connection as postgres_server
from warehouse.postgres import create_database

SCORE_JOB = "score_batches_job"  # definitions: the score batches landed and the score models built, by partition
SCORE_PARTITIONS = "score_batches"  # assets.SCORE_BATCHES: one partition per batch number
# the run tags that make one run of a partition range (what the UI's backfill of a single-run asset sets)
RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")
STORAGE_DATABASE = "orchestrator"  # ORCHESTRATOR_STORAGE=postgres: the database of its runs and events
STARTUP_SECONDS = 180  # the code server loads the whole asset graph (the dbt manifest) before the UI answers
DEFINITIONS_MODULE = "orchestration.definitions"


class OrchestratorError(RuntimeError):
    """The orchestrator could not be started or stopped; the message says why and where its log is."""


def instance_yaml(settings: Settings, storage: PostgresServer | None) -> str:
    """dagster.yaml: the queue (one run at a time), the storage (sqlite files under ORCHESTRATOR_HOME, or the
    Postgres database `orchestrator` of `storage`; its password is read from PGPASSWORD, never written here)."""
    lines = [
        "# written by python -m orchestration start (orchestration/server.py): edit the settings, not this file",
        "concurrency:",  # the run queue: one run at a time, the others wait; one warehouse step at a time
        "  runs:",
        "    max_concurrent_runs: 1",
        "  pools:",
        "    default_limit: 1",
        "run_retries:",
        "  enabled: false",
        "telemetry:",
        "  enabled: false",
        "nux:",
        "  enabled: false",
        "code_servers:",
        f"  local_startup_timeout: {STARTUP_SECONDS}",
    ]
    if storage is not None:
        lines += [
            "storage:",
            "  postgres:",
            "    postgres_db:",
            f"      hostname: {json.dumps(storage.host)}",
            f"      port: {storage.port}",
            f"      username: {json.dumps(storage.user)}",
            "      password:",
            "        env: PGPASSWORD",
            f"      db_name: {STORAGE_DATABASE}",
        ]
    else:
        lines += ["storage:", "  sqlite:", f"    base_dir: {json.dumps(str(settings.orchestrator_home / 'storage'))}"]
    return "\n".join(lines) + "\n"


def storage_server(settings: Settings) -> PostgresServer | None:
    """The Postgres server of the orchestrator's storage (its database created), None for sqlite."""
    if settings.orchestrator_storage != "postgres":
        return None
    server = postgres_server(settings.postgres_server)
    create_database(server, STORAGE_DATABASE, vector=False)
    return server


def url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.orchestrator_port}"


def _pid_file(settings: Settings) -> Path:
    return settings.orchestrator_home / "orchestrator.pid"


def log_file(settings: Settings) -> Path:
    return settings.orchestrator_home / "orchestrator.log"


def answering(settings: Settings) -> bool:
    try:
        with urllib.request.urlopen(f"{url(settings)}/server_info", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def running_pid(settings: Settings) -> int | None:
    try:
        pid = int(_pid_file(settings).read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def start(settings: Settings) -> str:
    """Start the orchestrator (or find it running); its URL once the UI answers."""
    if running_pid(settings) is not None and answering(settings):
        return url(settings)
    home = settings.orchestrator_home
    home.mkdir(parents=True, exist_ok=True)
    server = storage_server(settings)
    (home / "dagster.yaml").write_text(instance_yaml(settings, server))
    prepare_manifest(settings, target_warehouse(settings))
    env = {**os.environ, "DAGSTER_HOME": str(home), "DAGSTER_DISABLE_TELEMETRY": "1"}
    if server is not None:
        env.update(server.env())
    command = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-m",
        DEFINITIONS_MODULE,
        "--host",
        "127.0.0.1",
        "--port",
        str(settings.orchestrator_port),
    ]
    with log_file(settings).open("ab") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    _pid_file(settings).write_text(str(process.pid))
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise OrchestratorError(f"dagster dev exited ({process.returncode}); its log: {log_file(settings)}")
        if answering(settings):
            return url(settings)
        time.sleep(1)
    stop(settings)
    raise OrchestratorError(f"the UI did not answer within {STARTUP_SECONDS} s; its log: {log_file(settings)}")


def launch_backfill(settings: Settings, first: int, last: int) -> str:
    """Queue one run of the score job re-running batches first..last (what the UI's backfill of the range does: the
    score models rewound to before `first`, then built); its run id. The running orchestrator's queue runs it in its
    turn, one build at a time."""
    from dagster import DagsterInstance  # the orchestrator's own library, not needed to start or stop it

    if first > last:
        raise OrchestratorError(f"backfill {first}..{last}: the first batch comes after the last")
    if running_pid(settings) is None:
        raise OrchestratorError("the orchestrator is not running: `make orchestrate` first")
    with DagsterInstance.from_config(str(settings.orchestrator_home)) as instance:
        known = {int(key) for key in instance.get_dynamic_partitions(SCORE_PARTITIONS)}
    missing = sorted(set(range(first, last + 1)) - known)
    if missing:
        raise OrchestratorError(
            f"backfill {first}..{last}: batch {missing[0]} has not arrived (batches known: "
            f"{min(known, default='none')}..{max(known, default='none')})"
        )
    run_id = str(uuid.uuid4())
    tags = dict(zip(RANGE_TAGS, (str(first), str(last))))
    command = [sys.executable, "-m", "dagster", "job", "launch", "-m", DEFINITIONS_MODULE, "-j", SCORE_JOB]
    launched = subprocess.run(
        [*command, "--tags", json.dumps(tags), "--run-id", run_id],
        env={**os.environ, "DAGSTER_HOME": str(settings.orchestrator_home), "DAGSTER_DISABLE_TELEMETRY": "1"},
        capture_output=True,
        text=True,
    )
    if launched.returncode != 0:
        lines = [line for line in launched.stderr.splitlines() if line.strip()]
        raise OrchestratorError(f"dagster job launch failed: {lines[-1] if lines else launched.returncode}")
    return run_id


def stop(settings: Settings, grace_seconds: float = 20) -> bool:
    """Stop the orchestrator's process group (the UI, the daemon, the code server, a run in progress): SIGINT
    first, which `dagster dev` handles by stopping its children, then SIGKILL (it ignores SIGTERM when started in
    the background). False when it was not running."""
    pid = running_pid(settings)
    if pid is None:
        _pid_file(settings).unlink(missing_ok=True)
        return False
    for sig, wait in ((signal.SIGINT, grace_seconds), (signal.SIGKILL, 5)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _group_alive(pid):
            time.sleep(0.2)
        if not _group_alive(pid):
            break
    _pid_file(settings).unlink(missing_ok=True)
    return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    # a zombie leader (its parent, this process, has not reaped it) still counts: reap it if it is ours
    try:
        os.waitpid(pgid, os.WNOHANG)
    except ChildProcessError:
        pass
    return _group_has_live_member(pgid)


def _group_has_live_member(pgid: int) -> bool:
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False
