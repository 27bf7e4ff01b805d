"""The pipeline around dbt: the runner (every engine), `ingest(doc_id)`, publishing the service's copy, exports."""
