"""The orchestrator that runs the platform by itself (Dagster): every step from a raw file to the served index as
one asset graph, sensors that pick up new score batches and documents, score batches as partitions (backfills by
batch), retries, the dbt tests and the Great Expectations checkpoint as asset checks. `make orchestrate` starts it
(python -m orchestration start), `make stop` stops it; docs/orchestration.md."""
