"""Great Expectations suites for the warehouse, defined in code: one function per table.

`python -m quality.checkpoint --write-suites` writes them to `gx/expectations/<suite>.json` byte for byte the
same every time (ids are uuid5 of the suite name and the expectation's position), and a test asserts the
committed JSON is what this module generates. Edit here, never the JSON.

Each function returns a plain suite definition:
    {"name", "table", "query", "notes", "expectations": [{"type", "kwargs", "severity", "notes"}]}
`query` is the SQL that loads the table into pandas (GX's SQL datasource does not work on DuckDB, so the
checkpoint validates dataframes); it may add derived columns, which the suite's notes name.
A value known only at run time is a GX suite parameter (`{"$PARAMETER": name}`), set by the checkpoint:
`embedding_dim`, the dimension of the embedding model in use.
Severity: "critical" fails the checkpoint (exit 1); "warning" is printed and kept in the data docs only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from core.settings import GX_DEFAULTS, library_defaults
from warehouse.spark import ignore_pandas_version_warning

# The vector length depends on the embedding model the warehouse was built with (384 for the packaged
# all-MiniLM-L6-v2, any size for `hashing:<dim>`): a GX suite parameter, which the checkpoint sets to the
# dimension of the model EMBEDDING_MODEL resolves to.
EMBEDDING_DIM_PARAMETER = "embedding_dim"
NORM_TOLERANCE = 1e-3
KNOWN_INDUSTRIES = ["cars", "clothing", "food", "hair care"]
ULID_REGEX = r"^[0-9A-HJKMNP-TV-Z]{26}$"  # Crockford base32, 26 characters
MAX_REJECT_SHARE = 0.05  # above this share of rejected raw records: a warning, not a failure
RAW_SCORE_BATCH_COLUMNS = [
    "batch",
    "record_index",
    "id",
    "score",
    "score_json_type",
    "industry",
    "source_file",
    "content_hash",
    "loaded_at",
]
GX_VERSION = "1.24.1"  # recorded in each suite's meta, as GX itself would
_NAMESPACE = uuid.UUID("6f1d3a52-5c0e-4f39-9a51-0c7b1f8e2d41")  # fixed: ids are stable across regenerations


def _e(type_: str, severity: str = "critical", notes: str | None = None, **kwargs: Any) -> dict:
    return {"type": type_, "kwargs": kwargs, "severity": severity, "notes": notes}


def _whole_table(table: str, notes: str, expectations: list[dict]) -> dict:
    """A suite named after its table, validating every row and column of it as stored."""
    return {
        "name": table,
        "table": table,
        "query": f"select * from {table}",
        "notes": notes,
        "expectations": expectations,
    }


def raw_score_batches() -> dict:
    return {
        "name": "raw_score_batches",
        "table": "raw.score_batches",
        # is_rejected (derived): 1 when the record ended in score_rejects, so its mean is the share of rejects
        "query": """
            select b.*, (r.record_index is not null)::integer as is_rejected
            from raw.score_batches b
            left join (select distinct batch, record_index from score_rejects) r using (batch, record_index)
        """,
        "requires": ["score_rejects"],
        "notes": (
            "Raw score batches as landed (one row per JSON record). `is_rejected` is a derived column (1 when the "
            "record is in score_rejects); its mean is the share of rejects, a warning above "
            f"{MAX_REJECT_SHARE:.0%}, never a failure."
        ),
        "expectations": [
            _e("expect_table_columns_to_match_ordered_list", column_list=RAW_SCORE_BATCH_COLUMNS + ["is_rejected"]),
            _e("expect_compound_columns_to_be_unique", column_list=["batch", "record_index"]),
            _e("expect_column_values_to_not_be_null", column="id"),
            _e("expect_column_value_lengths_to_equal", column="id", value=26),
            _e("expect_column_values_to_match_regex", column="id", regex=ULID_REGEX),
            _e(
                "expect_column_values_to_be_in_set",
                column="score_json_type",
                value_set=["array", "boolean", "null", "number", "object", "string"],
            ),
            _e(
                "expect_column_mean_to_be_between",
                severity="warning",
                notes=f"share of rejects (score_rejects / raw records) at most {MAX_REJECT_SHARE:.0%}",
                column="is_rejected",
                min_value=0.0,
                max_value=MAX_REJECT_SHARE,
            ),
        ],
    }


def scores() -> dict:
    return _whole_table(
        "scores",
        "The latest score and percentile of every asset.",
        [
            _e("expect_column_values_to_not_be_null", column="id"),
            _e("expect_column_values_to_be_unique", column="id"),
            _e("expect_column_values_to_not_be_null", column="percentile"),
            _e(
                "expect_column_values_to_be_between",
                notes="percentile in (0, 100]",
                column="percentile",
                min_value=0.0,
                max_value=100.0,
                strict_min=True,
            ),
            _e("expect_column_values_to_not_be_null", column="industry"),
            _e("expect_column_values_to_be_in_set", column="industry", value_set=KNOWN_INDUSTRIES),
        ],
    )


def percentile_history() -> dict:
    return _whole_table(
        "percentile_history",
        "Every percentile computed, one row per iteration and asset id.",
        [
            _e("expect_column_values_to_not_be_null", column="iteration"),
            _e("expect_column_values_to_not_be_null", column="id"),
            _e("expect_compound_columns_to_be_unique", column_list=["iteration", "id"]),
            _e(
                "expect_column_values_to_be_between",
                column="percentile",
                min_value=0.0,
                max_value=100.0,
                strict_min=True,
            ),
        ],
    )


def industry_distribution_history() -> dict:
    notes = "Score distribution per iteration and industry (drift monitoring)."
    return _whole_table(
        "industry_distribution_history",
        notes,
        [
            _e("expect_compound_columns_to_be_unique", column_list=["iteration", "industry"]),
            _e("expect_column_values_to_be_in_set", column="industry", value_set=KNOWN_INDUSTRIES),
            _e("expect_column_values_to_not_be_null", column="n"),
            _e("expect_column_values_to_be_between", notes="n > 0", column="n", min_value=0, strict_min=True),
            _e("expect_column_values_to_not_be_null", column="stddev"),
            _e(
                "expect_column_values_to_be_between",
                notes="stddev > 0",
                column="stddev",
                min_value=0.0,
                strict_min=True,
            ),
        ],
    )


def document_chunks() -> dict:
    dimension = {"$PARAMETER": EMBEDDING_DIM_PARAMETER}
    return {
        "name": "document_chunks",
        "table": "document_chunks",
        # derived columns: the vector itself is not loaded, its length and L2 norm are computed in DuckDB
        "query": """
            select doc_id, chunk_id, chunk_index, source_position, token_count, content_hash, model_id,
                   len(pages) as page_count,
                   len(embedding::float[]) as embedding_length,
                   sqrt(list_dot_product(embedding::float[], embedding::float[])) as embedding_norm
            from document_chunks
        """,
        "notes": (
            "Document chunks and their vectors. Derived columns computed in DuckDB before validation: "
            "`embedding_length` = len(embedding), `embedding_norm` = L2 norm of embedding, `page_count` = len(pages); "
            "the vectors themselves are not loaded."
        ),
        "expectations": [
            _e("expect_compound_columns_to_be_unique", column_list=["doc_id", "chunk_id"]),
            _e("expect_column_values_to_not_be_null", column="embedding_length", notes="every chunk has a vector"),
            _e(
                "expect_column_values_to_be_between",
                notes=f"vector length = the embedding model's dimension (suite parameter `{EMBEDDING_DIM_PARAMETER}`)",
                column="embedding_length",
                min_value=dimension,
                max_value=dimension,
            ),
            _e(
                "expect_column_values_to_be_between",
                notes=f"unit vectors: |norm - 1| <= {NORM_TOLERANCE}",
                column="embedding_norm",
                min_value=1 - NORM_TOLERANCE,
                max_value=1 + NORM_TOLERANCE,
            ),
            _e("expect_column_values_to_not_be_null", column="page_count", notes="pages present"),
            _e(
                "expect_column_values_to_be_between",
                notes="pages non-empty",
                column="page_count",
                min_value=1,
            ),
            _e("expect_column_values_to_be_between", column="token_count", min_value=1),
        ],
    }


def user_interest_scores() -> dict:
    notes = "Interest probabilities per user (empty until interests are landed: then skipped)."
    return _whole_table(
        "user_interest_scores",
        notes,
        [
            _e("expect_column_values_to_not_be_null", column="probability"),
            _e(
                "expect_column_values_to_be_between",
                notes="probability in [0, 1]",
                column="probability",
                min_value=0.0,
                max_value=1.0,
            ),
        ],
    )


SUITES: list[Callable[[], dict]] = [
    raw_score_batches,
    scores,
    percentile_history,
    industry_distribution_history,
    document_chunks,
    user_interest_scores,
]


def suite_json(definition: dict) -> dict:
    """The suite as GX stores it (the JSON of `gx/expectations/<name>.json`), with deterministic ids."""
    name = definition["name"]
    expectations = []
    for index, expectation in enumerate(definition["expectations"]):
        expectations.append(
            {
                "id": str(uuid.uuid5(_NAMESPACE, f"{name}/{index}/{expectation['type']}")),
                "type": expectation["type"],
                "kwargs": expectation["kwargs"],
                "meta": {"critical": expectation["severity"] == "critical"},
                "notes": expectation["notes"],
                "severity": expectation["severity"],
            }
        )
    return {
        "id": str(uuid.uuid5(_NAMESPACE, name)),
        "name": name,
        "expectations": expectations,
        "meta": {"great_expectations_version": GX_VERSION, "table": definition["table"]},
        "notes": definition["notes"],
    }


def before_importing_gx() -> None:
    """GX's telemetry off (unless GX_ANALYTICS_ENABLED says otherwise) and pyspark's pandas warning silenced (GX
    imports pyspark whenever it is installed): call it in the function that imports great_expectations."""
    library_defaults(GX_DEFAULTS)
    ignore_pandas_version_warning()


def suite_text(definition: dict) -> str:
    """The file's text exactly as GX's expectations store writes it, so GX re-saving a suite changes nothing."""
    before_importing_gx()
    from great_expectations.core.expectation_suite import ExpectationSuite, ExpectationSuiteSchema

    schema = ExpectationSuiteSchema()
    return schema.dumps(ExpectationSuite(**schema.load(suite_json(definition))), indent=2, sort_keys=True)
