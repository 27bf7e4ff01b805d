"""What a user would write instead of a full rebuild: the pandas loop over the clean rows, every iteration's
percentiles computed (`pandas_baseline.percentile_loop`), all iterations in one frame, written to a DuckDB table.

`python -m benchmarks.scores.pandas_rebuild WAREHOUSE SCRATCH_DIR`: reads `int_scores_clean` from the DuckDB file
WAREHOUSE (untimed: the loop's input), then times the loop, the frame and `create table ... as select * from
frame` into a new file in SCRATCH_DIR (removed afterwards). Run in a process of its own, so that its peak memory
can be measured as the build's is. Prints one line: `RESULT <seconds> <rows> <write seconds>`.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from benchmarks.scores.pandas_baseline import as_frame, percentile_loop, window_batches
from core.settings import PROJECT_ROOT
from warehouse.duckdb_file import connect


def main(argv: list[str]) -> int:
    warehouse, scratch = Path(argv[0]), Path(argv[1])
    with connect(warehouse, read_only=True) as con:
        clean = con.sql(
            "select id, batch, record_index, industry, score from main.int_scores_clean order by batch, record_index"
        ).df()
    window = window_batches(PROJECT_ROOT)
    started = time.perf_counter()
    frame = as_frame(clean, percentile_loop(clean, window))
    computed = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=scratch) as folder, connect(Path(folder) / "loop.duckdb") as out:
        out.register("frame", frame)
        out.execute("create table percentile_history as select * from frame")
        finished = time.perf_counter()
    print(f"RESULT {finished - started:.3f} {len(frame)} {finished - computed:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
