"""Run dbt against a warehouse from Python, as `make build` does: `python -m pipeline.dbt_runner <dbt args>`.

dbt runs in a subprocess: dbt-duckdb keeps its connection open for the life of a process, which would hold
the warehouse's single writer lock after the build. The warehouse path is passed to dbt here (profiles.yml
reads DUCKDB_PATH), so core.settings stays the one place its default lives.

On DBT_TARGET=spark, dbt runs inside pipeline.spark_dbt (the process that owns the SparkSession; it
runs the Python models too). On DBT_TARGET=postgres, dbt-postgres runs no Python models: `build` and `run` are
cut into phases along the graph (python_phases): the SQL nodes no Python model precedes, then each Python model
through the `postgres_python` output (dbt-duckdb with the Postgres database attached: the same model file, writing into
Postgres), then the SQL nodes it unblocks, and so on. Tests run with the phase that completes their parents.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from core.settings import DEFAULT_DUCKDB_MEMORY_LIMIT, PROJECT_ROOT, Settings
from warehouse import Warehouse, target_warehouse


class DbtError(RuntimeError):
    """dbt failed; the message carries the tail of dbt's own output."""


def run_dbt(
    warehouse: Warehouse,
    args: list[str],
    target_path: Path | None = None,
    check: bool = True,
    extra_env: dict[str, str] | None = None,
    stream: bool = False,
    project_dir: Path = PROJECT_ROOT,
) -> subprocess.CompletedProcess:
    """`dbt <args>` on `project_dir` (default: this checkout; benchmarks may measure another copy of the project)
    against `warehouse`, whatever its engine: profiles.yml's output is the warehouse's own (Warehouse.dbt_env). On
    Spark dbt runs inside the launcher pipeline.spark_dbt (but for OFFLINE_COMMANDS); on Postgres, `build` and
    `run` run in phases.
    `target_path`: dbt's target folder (manifest, logs, compiled SQL), DBT_TARGET_PATH at the entry points;
    None: the project's target/."""
    target_path = Path(target_path) if target_path is not None else project_dir / "target"
    env = {
        **os.environ,
        # profiles.yml's duckdb output reads DUCKDB_PATH (and its memory limit) whenever dbt parses; on the other
        # engines nothing is written
        "DUCKDB_PATH": str(PROJECT_ROOT / "unused.duckdb"),
        "DUCKDB_MEMORY_LIMIT": DEFAULT_DUCKDB_MEMORY_LIMIT,
        **warehouse.dbt_env(),
        "DBT_PROFILES_DIR": str(PROJECT_ROOT),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "HF_HUB_OFFLINE": "1",
        **(extra_env or {}),
    }
    if warehouse.engine == "postgres" and args and args[0] in PHASED_COMMANDS:
        return _run_phased(args, env, target_path, check, stream, project_dir)
    launcher = warehouse.engine == "spark" and not (args and args[0] in OFFLINE_COMMANDS)
    return _run(args, env, target_path, check, stream, project_dir, spark_launcher=launcher)


PHASED_COMMANDS = ("build", "run")
# dbt commands that read the project only, never the warehouse: on Spark they need no session (a parse takes 5.7 s
# instead of 17.9 s inside the launcher)
OFFLINE_COMMANDS = ("parse", "ls", "list")
PYTHON_TARGET = "postgres_python"  # profiles.yml: dbt-duckdb over the attached Postgres database
SELECTION_FLAGS = (
    "--select",
    "-s",
    "--exclude",
    "--selector",
    "--models",
    "-m",
    "--indirect-selection",
    "--resource-type",
    "--resource-types",
    "--exclude-resource-type",
    "--exclude-resource-types",
)


def _run(
    args: list[str],
    env: dict,
    target_path: Path,
    check: bool,
    stream: bool,
    project_dir: Path,
    spark_launcher: bool = False,
) -> subprocess.CompletedProcess:
    program = (
        [sys.executable, "-m", "pipeline.spark_dbt"] if spark_launcher else [str(Path(sys.executable).parent / "dbt")]
    )
    command = [*program, *args, "--project-dir", str(project_dir)]
    command += ["--target-path", str(target_path), "--log-path", str(target_path / "logs")]
    result = subprocess.run(
        command,
        cwd=project_dir,
        env=env,
        text=True,
        stdout=None if stream else subprocess.PIPE,
        stderr=None if stream else subprocess.PIPE,
    )
    if check and result.returncode != 0:
        output = "" if stream else f"\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
        raise DbtError(f"dbt {' '.join(args)} failed (exit {result.returncode}){output}")
    return result


RESOURCE_TYPE_FLAGS = ("--resource-type", "--resource-types", "--exclude-resource-type", "--exclude-resource-types")


def resource_type_flags(selection: list[str]) -> list[str]:
    """The resource-type flags of a selection, with their values: a phase selects its nodes by name, and these
    must still apply to the tests and unit tests the phase's indirect selection adds."""
    flags, keep = [], False
    for arg in selection:
        if arg.startswith("-"):
            keep = arg.split("=")[0] in RESOURCE_TYPE_FLAGS
        if keep:
            flags.append(arg)
    return flags


def split_selection(args: list[str]) -> tuple[list[str], list[str]]:
    """(selection flags with their values, every other argument) of a dbt command line (command excluded)."""
    selection, rest, current = [], [], None
    for arg in args:
        if arg.startswith("-"):
            current = selection if arg.split("=")[0] in SELECTION_FLAGS else rest
            current.append(arg)
        else:
            (current if current is not None else rest).append(arg)
    return selection, rest


def python_phases(manifest: dict, selected: set[str]) -> list[tuple[str, list[str]]]:
    """The selected nodes in phases: [("sql" | "python", [unique_id, ...]), ...], in an order that builds every
    node after its parents, each Python model alone, the SQL nodes as few times as possible."""
    nodes = {**manifest["nodes"], **manifest.get("sources", {})}
    parents = manifest["parent_map"]
    python = {uid for uid in selected if nodes[uid].get("language") == "python"}
    ancestors: dict[str, set[str]] = {}

    def python_ancestors(uid: str) -> set[str]:  # the selected Python models upstream of a node
        if uid not in ancestors:
            found: set[str] = set()
            for parent in parents.get(uid, []):
                if parent in python:
                    found.add(parent)
                found |= python_ancestors(parent)
            ancestors[uid] = found
        return ancestors[uid]

    order = sorted(python, key=lambda uid: (len(python_ancestors(uid)), uid))  # a topological order
    rank = {uid: index for index, uid in enumerate(order)}
    groups: dict[str | None, list[str]] = {}
    for uid in sorted(selected - python):
        upstream = python_ancestors(uid)
        groups.setdefault(max(upstream, key=rank.get) if upstream else None, []).append(uid)
    phases = [("sql", groups[None])] if None in groups else []
    for uid in order:
        phases.append(("python", [uid]))
        if uid in groups:
            phases.append(("sql", groups[uid]))
    return phases


def _run_phased(
    args: list[str], env: dict, target_path: Path, check: bool, stream: bool, project_dir: Path
) -> subprocess.CompletedProcess:
    command, (selection, rest) = args[0], split_selection(args[1:])
    base = target_path
    listed = _run(
        [
            "ls",
            "--resource-type",
            "model",
            "--resource-type",
            "seed",
            "--resource-type",
            "snapshot",
            "--output",
            "json",
            "--output-keys",
            "unique_id",
            "--quiet",
            *selection,
        ],
        {**env, "DBT_LOG_FORMAT": "text"},  # the listing as lines of JSON even when the caller wants JSON logs
        base,
        True,
        False,
        project_dir,
    )
    selected = {json.loads(line)["unique_id"] for line in listed.stdout.splitlines() if line.startswith("{")}
    manifest = json.loads((base / "manifest.json").read_text())
    if not any(manifest["nodes"][uid].get("language") == "python" for uid in selected):
        return _run(args, env, target_path, check, stream, project_dir)
    outputs, returncode = [], 0
    for kind, uids in python_phases(manifest, selected):
        names = [manifest["nodes"][uid]["name"] for uid in uids]
        phase = [command, "--select", *names, *resource_type_flags(selection), *rest]
        if kind == "python":
            phase += ["--target", PYTHON_TARGET, "--indirect-selection", "cautious"]
        else:
            phase += ["--indirect-selection", "buildable"]
        print(
            f"[dbt_runner] postgres {kind} phase: {' '.join(names) if len(names) <= 6 else f'{len(names)} nodes'}",
            flush=True,
        )
        result = _run(phase, env, base / kind if kind == "python" else target_path, check, stream, project_dir)
        outputs.append(result.stdout or "")
        if result.returncode != 0:
            returncode = result.returncode
            break  # later phases read what this one failed to build
    return subprocess.CompletedProcess(args, returncode, "".join(outputs), "")


# dbt commands that write models: a kill -9 part-way leaves some marts updated and others not
WRITING_COMMANDS = ("build", "run")


def _mark_unfinished(marker: Path, args: list[str]) -> None:
    marker.parent.mkdir(parents=True, exist_ok=True)
    writing = marker.with_name(f".{marker.name}.writing")
    writing.write_text(json.dumps({"args": args, "started": time.strftime("%Y-%m-%d %H:%M:%S")}))
    os.replace(writing, marker)  # whole or absent, even if this process is killed too


def build_healing(warehouse: Warehouse, args: list[str], target_path: Path | None = None) -> int:
    """`dbt <args>` (a writing command) on `warehouse`, finishing first a build a kill or a failure left unfinished.

    Each model commits on its own, so an interrupted build leaves marts that disagree (percentile_history holding
    an iteration `scores` lacks). Every incremental model appends past its own high-water mark, so running the
    interrupted build's command again completes exactly what it did not: that is the repair, done before `args`
    when they differ (a `make run` killed in its second build starts with its first)."""
    marker = warehouse.unfinished_build_marker()
    if marker.exists():
        try:
            interrupted = json.loads(marker.read_text())
        except ValueError:
            interrupted = {"args": args, "started": "at an unknown time"}
        again = interrupted["args"] != args
        print(
            f"[dbt_runner] the previous build (dbt {' '.join(interrupted['args'])}, started {interrupted['started']}) "
            "did not finish, so the marts may disagree with each other: this build repairs it"
            + (" by running that build again first" if again else ""),
            flush=True,
        )
        if again and run_dbt(warehouse, interrupted["args"], target_path, check=False, stream=True).returncode != 0:
            return 1
    _mark_unfinished(marker, args)
    returncode = run_dbt(warehouse, args, target_path, check=False, stream=True).returncode
    if returncode == 0:
        marker.unlink()
    return returncode


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:  # asked by tools that call this in place of dbt (the orchestrator's dbt integration)
        return subprocess.run([str(Path(sys.executable).parent / "dbt"), "--version"]).returncode
    settings = Settings.from_env()
    warehouse = target_warehouse(settings)
    if args and args[0] in WRITING_COMMANDS:
        return build_healing(warehouse, args, settings.dbt_target_path)
    return run_dbt(warehouse, args, settings.dbt_target_path, check=False, stream=True).returncode


def console() -> None:
    """The `dbt-runner` command (pyproject's scripts): dbt's own arguments, run as main() runs them."""
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main())
