"""Run dbt against a warehouse from Python, as `make build` does: `python -m ingestion.dbt_runner <dbt args>`.

dbt runs in a subprocess: dbt-duckdb keeps its connection open for the life of a process, which would hold
the warehouse's single writer lock after the build. The warehouse path is passed to dbt here (profiles.yml
reads DUCKDB_PATH), so ingestion.settings stays the one place its default lives.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ingestion.settings import PROJECT_ROOT


class DbtError(RuntimeError):
    """dbt failed; the message carries the tail of dbt's own output."""


def run_dbt(
    args: list[str], duckdb_path: Path, target_path: Path | None = None, check: bool = True,
    extra_env: dict[str, str] | None = None, stream: bool = False, project_dir: Path = PROJECT_ROOT,
    target: str = "duckdb",
) -> subprocess.CompletedProcess:
    """`dbt <args>` on `project_dir` (default: this checkout; benchmarks may measure another copy of the project).

    `target` picks profiles.yml's output (DBT_TARGET): duckdb, the file `duckdb_path`; postgres, the PG*
    settings when PGHOST is set (in the environment or `extra_env`), else the project's local server, started or
    reused (ingestion.engines.postgres).
    """
    engine_env = {}
    if target == "postgres" and "PGHOST" not in (extra_env or {}):
        from ingestion.engines.postgres import connection

        engine_env = connection().env()
    env = {
        **os.environ,
        **engine_env,
        "DBT_TARGET": target,
        "DUCKDB_PATH": str(duckdb_path),
        "DBT_PROFILES_DIR": str(PROJECT_ROOT),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "HF_HUB_OFFLINE": "1",
        **(extra_env or {}),
    }
    command = [str(Path(sys.executable).parent / "dbt"), *args, "--project-dir", str(project_dir)]
    if target_path is not None:
        command += ["--target-path", str(target_path), "--log-path", str(Path(target_path) / "logs")]
    result = subprocess.run(
        command, cwd=project_dir, env=env, text=True,
        stdout=None if stream else subprocess.PIPE, stderr=None if stream else subprocess.PIPE,
    )
    if check and result.returncode != 0:
        output = "" if stream else f"\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
        raise DbtError(f"dbt {' '.join(args)} failed (exit {result.returncode}){output}")
    return result


def main(argv: list[str] | None = None) -> int:
    from ingestion.settings import Settings

    args = sys.argv[1:] if argv is None else argv
    settings = Settings.from_env()
    return run_dbt(args, settings.duckdb_path, check=False, stream=True, target=settings.dbt_target).returncode


if __name__ == "__main__":
    sys.exit(main())
