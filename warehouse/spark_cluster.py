"""A Spark standalone cluster on this machine, to run DBT_TARGET=spark against a real master and worker:
`python -m warehouse.spark_cluster start|stop|status`.

Two JVM processes started from the pyspark distribution (`bin/spark-class`): a master on 127.0.0.1 (a free port,
kept in `.engines/spark-cluster/cluster.json`) and one worker registered with it (SPARK_WORKER_CORES, default
every core; SPARK_WORKER_MEMORY, default 2g). `start` prints the SPARK_MASTER to use; `make stop` stops both.
What the session method then does is what it does against any standalone cluster: the driver (the launcher
process, with the metastore) sends tasks to executors in the worker, whose Python workers run the embedding.
A real cluster differs in what the executors can see: see docs/spark.md (cluster).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from core.settings import PROJECT_ROOT, Settings
from warehouse.local_postgres import free_port

STATE_DIR = PROJECT_ROOT / ".engines" / "spark-cluster"
READY_TIMEOUT = 90.0


def _spark_class() -> Path:
    from pyspark.find_spark_home import _find_spark_home

    return Path(_find_spark_home()) / "bin" / "spark-class"


class LocalSparkCluster:
    def __init__(self, state_dir: Path = STATE_DIR):
        self.state_dir = Path(state_dir)
        self.state_file = self.state_dir / "cluster.json"

    def _state(self) -> dict:
        return json.loads(self.state_file.read_text()) if self.state_file.exists() else {}

    def running(self) -> bool:
        pids = self.pids()
        return bool(pids) and all(_alive(pid) for pid in pids.values())

    def pids(self) -> dict[str, int]:
        """The master's and the worker's process ids (the JVMs)."""
        return dict(self._state().get("pids", {}))

    def master_url(self) -> str:
        return f"spark://127.0.0.1:{self._state()['port']}"

    def start(self, cores: int, memory: str) -> str:
        """Start the master and a worker of `cores` cores and `memory` (SPARK_WORKER_CORES, SPARK_WORKER_MEMORY),
        or find them running; the master's URL once the worker registered."""
        if self.running():
            return self.master_url()
        self.stop()  # what a killed run left: a dead pid, a lone master
        self.state_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
        url = f"spark://127.0.0.1:{port}"
        commands = {
            "master": [
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--webui-port",
                str(free_port()),
            ],
            "worker": [
                "org.apache.spark.deploy.worker.Worker",
                "--cores",
                str(cores),
                "--memory",
                memory,
                "--work-dir",
                str(self.state_dir / "work"),
                "--webui-port",
                str(free_port()),
                url,
            ],
        }
        ready = {"master": "I have been elected leader", "worker": "Successfully registered with master"}
        pids = {}
        for role, arguments in commands.items():
            log = open(self.state_dir / f"{role}.log", "w")
            process = subprocess.Popen(
                [str(_spark_class()), *arguments], stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )  # outlives the starting process
            pids[role] = process.pid
            self.state_file.write_text(json.dumps({"port": port, "pids": pids, "cores": cores, "memory": memory}))
            self._wait_for(role, ready[role], process)
        return url

    def _wait_for(self, role: str, line: str, process: subprocess.Popen) -> None:
        log = self.state_dir / f"{role}.log"
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if line in log.read_text(errors="replace"):
                return
            if process.poll() is not None:
                break
            time.sleep(0.5)
        self.stop()
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise RuntimeError(f"the Spark {role} did not start (log {log}):\n{tail}")

    def stop(self) -> bool:
        """Stop the worker, then the master; True when something was running."""
        pids = self.pids()
        stopped = False
        for role in ("worker", "master"):
            pid = pids.get(role)
            if pid and _alive(pid):
                os.killpg(pid, signal.SIGTERM)  # its own session: the JVM and the executors it forked
                stopped = True
                deadline = time.monotonic() + 5  # keeps no state worth a long goodbye: then SIGKILL
                while _alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.2)
                if _alive(pid):
                    os.killpg(pid, signal.SIGKILL)
        self.state_file.unlink(missing_ok=True)
        return stopped


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of this process counts as gone
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("start", "stop", "status"))
    args = parser.parse_args(argv)
    cluster = LocalSparkCluster()
    if args.action == "start":
        started = time.perf_counter()
        settings = Settings.from_env()
        url = cluster.start(settings.spark_worker_cores, settings.spark_worker_memory)
        print(f"[spark-cluster] master and worker ready in {time.perf_counter() - started:.1f} s: SPARK_MASTER={url}")
    elif args.action == "stop":
        print("[spark-cluster] stopped" if cluster.stop() else "[spark-cluster] not running")
    else:
        print(
            f"[spark-cluster] running: SPARK_MASTER={cluster.master_url()}"
            if cluster.running()
            else "[spark-cluster] not running"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
