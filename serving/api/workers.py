"""Several service processes on one port, each listening on a socket of its own (SO_REUSEPORT).

uvicorn's `--workers` binds one socket in the parent and every worker accepts from it: whichever worker's event
loop wins the race takes the connection, so keep-alive clients that connect together land unevenly. Three runs of
50 wrk connections against 2 workers split them 50/0, 37/13 and 33/17, and the busier worker's queue is the
service's latency (docs/benchmarks.md, "The service under load"). With a socket per worker in one SO_REUSEPORT
group the kernel spreads connections over the workers by a hash of their addresses instead.

uvicorn's supervisor (`Multiprocess`: restarts a dead worker, stops all on SIGINT/SIGTERM) is kept as it is: it
hands each spawned worker the sockets it was given, and what it is given here is a `WorkerListener`, which pickles
to its address only and becomes, in each worker, a listening socket that worker bound itself (`worker_socket`,
which also prepares the worker).
"""

from __future__ import annotations

import logging
import socket
import threading

import uvicorn
from tqdm import tqdm
from uvicorn.supervisors import Multiprocess

BACKLOG = 2048  # uvicorn's default

logger = logging.getLogger("uvicorn.error")


def family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def reuse_port_socket(host: str, port: int, listen: bool) -> socket.socket:
    """A TCP socket bound to (host, port) in the address's SO_REUSEPORT group; listening if `listen`."""
    sock = socket.socket(family(host), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    if listen:
        sock.listen(BACKLOG)
    return sock


def claim_address(host: str, port: int) -> socket.socket:
    """The parent's hold on (host, port): a bound SO_REUSEPORT socket that never listens (so no connection waits
    in its queue), or SystemExit with one clear line when anything else holds the address."""
    try:
        # first a socket without SO_REUSEPORT, which any holder of the address refuses: a second instance of this
        # service would otherwise join the first one's group and silently share its connections
        with socket.socket(family(host), socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: TIME_WAIT does not block
            probe.bind((host, port))
            port = probe.getsockname()[1]
        return reuse_port_socket(host, port, listen=False)
    except OSError as exc:
        raise SystemExit(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def worker_socket(host: str, port: int) -> socket.socket:
    """Run in each spawned worker before it serves: the worker's listening socket.

    uvicorn ends a worker by raising SIGTERM again once the server has shut down, so multiprocessing's exit hooks
    never run there and a named semaphore the worker made is left to the resource tracker, which warns at shutdown
    ("2 leaked semaphore objects"). tqdm makes one for its default lock on first use (bm25s tokenizes through it);
    a worker draws no bars, so a thread lock does."""
    tqdm.set_lock(threading.RLock())
    return reuse_port_socket(host, port, listen=True)


class WorkerListener:
    """Stands in the supervisor's socket list for "a listening socket of the worker's own"."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port

    def __reduce__(self):
        # unpickled in the spawned worker, before uvicorn's Server.run(sockets) receives it
        return worker_socket, (self.host, self.port)


def run_workers(app: str, host: str, port: int, workers: int, **options) -> None:
    """`uvicorn.run(app, host=host, port=port, workers=workers, **options)` with a listening socket per worker."""
    if workers < 2:
        uvicorn.run(app, host=host, port=port, workers=1, **options)
        return
    config = uvicorn.Config(app, host=host, port=port, workers=workers, **options)
    claim = claim_address(host, port)
    port = claim.getsockname()[1]
    logger.info(
        "Uvicorn running on http://%s:%d with %d workers, a listening socket each (Press CTRL+C to quit)",
        host,
        port,
        workers,
    )
    try:
        Multiprocess(config, sockets=[WorkerListener(host, port)]).run()
    finally:
        claim.close()
