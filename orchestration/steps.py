"""The platform's Python steps, run as the orchestrator's assets run them: each through its own command-line entry
point, in a process of its own (what `make run` runs, nothing forked), its output passed on line by line, its
one-line error raised as the step's failure."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

from core.settings import PROJECT_ROOT


class StepFailed(RuntimeError):
    """A step's command failed; the message is its own last error line."""


@dataclass(frozen=True)
class StepResult:
    command: list[str]
    output: list[str]


def run_step(module: str, *args: str, log: Callable[[str], None] = print) -> StepResult:
    """`python -m <module> <args>` in the project, its output passed to `log` as it comes; StepFailed with the
    command's own last error line (or last line) when it exits non-zero."""
    command = [sys.executable, "-m", module, *args]
    output: list[str] = []
    with subprocess.Popen(
        command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        for line in process.stdout:
            output.append(line.rstrip("\n"))
            log(output[-1])
    if process.returncode != 0:
        errors = [line for line in output if "error" in line.lower()] or output or [f"exit {process.returncode}"]
        raise StepFailed(f"python -m {module} {' '.join(args)}: {errors[-1]}".replace("  ", " "))
    return StepResult(command, output)
