"""The warehouse of any engine (a DuckDB file, a Postgres database, a Spark warehouse): opening it, and the local
servers the project starts for it (`python -m warehouse stop|start|status`)."""
