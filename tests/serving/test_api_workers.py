"""Several service workers on one port (serving.api.workers), as `make serve` runs them with SERVE_WORKERS=2 over
a published copy of a real warehouse: each worker listens on a socket of its own, the kernel spreads connections
over them, stopping them leaves nothing behind for the resource tracker, and an address already held is one clear
error."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest

from core.settings import PROJECT_ROOT
from tests.support.service import LiveService

CONNECTIONS = 40


def listening_sockets(server_pid: int, port: int) -> dict[int, str]:
    """Each process under the server that listens on `port` -> the kernel's identity of its listening socket."""
    found = {}
    for process in psutil.Process(server_pid).children(recursive=True):
        for conn in process.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port:
                found[process.pid] = os.readlink(f"/proc/{process.pid}/fd/{conn.fd}")  # "socket:[inode]"
    return found


def accepted_per_worker(workers: list[int], port: int) -> Counter:
    """How many established connections to `port` each worker holds."""
    held = Counter()
    for pid in workers:
        held[pid] = sum(
            1
            for conn in psutil.Process(pid).net_connections(kind="tcp")
            if conn.status == psutil.CONN_ESTABLISHED and conn.laddr.port == port
        )
    return held


def test_each_worker_listens_on_its_own_socket_and_connections_spread_over_them(search_warehouse, tmp_path: Path):
    with LiveService(search_warehouse.published_path, tmp_path / "server.log", workers=2) as service:
        health = service.health_when(lambda h: h["status"] == "ok")
        assert health.get("status") == "ok", service.log_tail()
        server = psutil.Process(service._server.pid)
        deadline = time.monotonic() + 30
        while len(listeners := listening_sockets(server.pid, service.port)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(listeners) == 2, (listeners, service.log_tail())
        # two sockets, not one shared by inheritance: uvicorn's own --workers shows the same inode in every worker
        assert len(set(listeners.values())) == 2, listeners
        assert not any(conn.status == psutil.CONN_LISTEN for conn in server.net_connections())  # the parent only claims
        trackers = [
            child for child in server.children(recursive=True) if "resource_tracker" in " ".join(child.cmdline())
        ]

        # keep-alive clients connecting together, as a load generator's do: each is answered, then held open
        clients = [socket.create_connection(("127.0.0.1", service.port)) for _ in range(CONNECTIONS)]
        try:
            for client in clients:
                client.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
            for client in clients:
                assert client.recv(65536).startswith(b"HTTP/1.1 200"), service.log_tail()
            held = accepted_per_worker(list(listeners), service.port)
        finally:
            for client in clients:
                client.close()
    # the resource tracker outlives the workers and reports at its own exit what they left behind
    psutil.wait_procs(trackers, timeout=30)
    assert "leaked semaphore" not in service.log_tail(), service.log_tail()
    assert sum(held.values()) == CONNECTIONS, held
    # the kernel hashes each connection to a worker: 40 of them split 8..32 unless something is wrong (binomial
    # odds of a fair split falling outside: about 1 in 10,000)
    assert all(8 <= count <= 32 for count in held.values()), held
    assert "a listening socket each" in (tmp_path / "server.log").read_text()


@pytest.mark.parametrize("holder", ["another program", "another instance"])
def test_an_address_already_held_is_one_clear_error(search_warehouse, tmp_path: Path, holder: str):
    """A port in use stops the service with one line, whether a plain socket holds it or another SERVE_WORKERS
    instance (whose SO_REUSEPORT group a second instance could otherwise join, silently sharing its clients)."""
    env = {
        **os.environ,
        "PUBLISHED_PATH": str(search_warehouse.published_path),
        "HF_HUB_OFFLINE": "1",
        "SERVE_WORKERS": "2",
    }
    with socket.socket() as plain:
        if holder == "another program":
            plain.bind(("127.0.0.1", 0))
            plain.listen()
            port = plain.getsockname()[1]
            first = None
        else:
            first = LiveService(search_warehouse.published_path, tmp_path / "first.log", workers=2).__enter__()
            port = first.port
            assert first.health_when(lambda h: h["status"] == "ok").get("status") == "ok", first.log_tail()
        try:
            second = subprocess.run(
                [sys.executable, "-m", "serving.api", "--port", str(port)],
                cwd=PROJECT_ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
        finally:
            if first is not None:
                first.__exit__(None, None, None)
    assert second.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in second.stderr, second.stderr[-2000:]
    assert "Traceback" not in second.stderr, second.stderr[-2000:]
