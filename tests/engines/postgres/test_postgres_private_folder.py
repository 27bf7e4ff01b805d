"""The local Postgres starts wherever the project is cloned: as root, with its state inside a private folder
(mode 700, root:root, what `mktemp -d` or /root in a container gives), where the server, run as the service user,
must traverse a parent whose group bits (---) would apply to it if it kept root's group."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import tempfile
from pathlib import Path

import psycopg2
import pytest

from warehouse.local_postgres import SERVICE_USER, LocalPostgres

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="only root runs the server as another user (the service user)"
)


def _credentials(pid: int) -> dict[str, list[int]]:
    """Real gid and supplementary groups of a live process, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {"gid": [int(fields["Gid"].split()[0])], "groups": [int(g) for g in fields["Groups"].split()]}


def test_starts_with_its_state_inside_a_private_root_folder():
    private = Path(tempfile.mkdtemp(prefix="pg_private_"))
    info = private.stat()
    assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (0o700, 0, 0)
    server = LocalPostgres(private / "clone" / ".engines" / "postgres")
    try:
        connection = server.start()
        con = psycopg2.connect(connection.dsn())
        try:
            with con.cursor() as cursor:
                cursor.execute("select extversion from pg_extension where extname = 'vector'")
                assert cursor.fetchone() is not None
        finally:
            con.close()
        account = pwd.getpwnam(SERVICE_USER)
        # the postmaster (detached by pg_ctl) runs with the service user's own group, none of root's
        assert _credentials(server.pid()) == {"gid": [account.pw_gid], "groups": []}
        # the private folder gained the search bit for others only: still unreadable to anyone but root
        assert stat.S_IMODE(private.stat().st_mode) == 0o701
    finally:
        server.stop()
        shutil.rmtree(private, ignore_errors=True)
