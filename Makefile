# Two commands for a stranger: `make setup` then `make run`; `make test` proves it.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Settings (DATA_DIR, DUCKDB_PATH, ...) and their defaults live in core/settings.py alone: every target runs
# a Python entry point that reads them, dbt included (pipeline.dbt_runner hands DUCKDB_PATH to profiles.yml).
export HF_HUB_OFFLINE := 1
export GX_ANALYTICS_ENABLED := false
DBT := $(BIN)/python -m pipeline.dbt_runner

.PHONY: help setup java run land build publish export serve eval train-interests data train evaluate report docs browser test test-fast bench bench-scores bench-scores-postgres bench-engines bench-embedding bench-documents bench-search bench-pgvector bench-interests bench-load wrk sample-data clean stop

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/activate: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(BIN)/activate

setup: $(BIN)/activate java  ## create .venv and install the pinned dependencies (and Java 17 for DBT_TARGET=spark)

# Java 17+ for DBT_TARGET=spark (pyspark runs on the JVM): Debian's openjdk-17-jre-headless, installed only when
# `java -version` reports none or an older one; the other targets work without it, so a failed install only warns
java:
	@java -version 2>&1 | grep -qE 'version "(1[7-9]|[2-9][0-9])' || { \
		echo "[setup] DBT_TARGET=spark needs Java 17: installing openjdk-17-jre-headless (apt-get)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			openjdk-17-jre-headless >/dev/null) || echo "[setup] Java 17 could not be installed: DBT_TARGET=spark will not run"; }

land: setup  ## land every raw source found in DATA_DIR into DUCKDB_PATH
	$(BIN)/python -m landing.land

build: setup  ## dbt build: seeds, models, tests and unit tests
	$(DBT) build

publish: setup  ## copy what the service reads to PUBLISHED_PATH, swapped in atomically
	$(BIN)/python -m pipeline.publish

export: setup  ## write the score marts and document vectors as Parquet under OUTPUT_DIR
	$(BIN)/python -m pipeline.export

# The interest model trains on the warehouse (users, activity, title vectors) and user_interest_scores scores with
# it: dbt builds everything else first, then the model is trained if missing, then the mart and its children.
run: land  ## the main job: land DATA_DIR (default: the embedded sample), dbt build, train if needed, publish, export, GX checkpoint
	$(DBT) build --exclude user_interest_scores+
	$(BIN)/python -m training.interests --if-missing
	$(DBT) build --select user_interest_scores+
	$(MAKE) publish export
	$(BIN)/python -m quality.checkpoint

data: setup  ## versioned fine-tuning set from the warehouse's msmarco-trec-dl (landed and built by make run) -> ARTIFACTS_DIR/datasets/v<N>
	$(BIN)/python -m training.finetune_data

train: setup  ## fine-tune all-MiniLM-L6-v2 (MultipleNegativesRankingLoss, CPU, <= 20 min) -> ARTIFACTS_DIR/models/v<N>
	$(BIN)/python -m training.finetune

evaluate: setup  ## newest candidate vs current model over the warehouse's whole corpus; promote only if better (registry.json)
	$(BIN)/python -m training.promote

docs: setup  ## dbt docs (target/) and Great Expectations data docs (gx/uncommitted/data_docs/local_site/index.html)
	$(DBT) docs generate
	-$(BIN)/python -m quality.checkpoint
	@echo "dbt docs: $(DBT) docs serve; data docs: open gx/uncommitted/data_docs/local_site/index.html"

report: setup  ## monitoring plots of the score marts (distribution, KS drift, growth) -> OUTPUT_DIR/report
	$(BIN)/python -m quality.report

train-interests: setup  ## train the interest model on the warehouse's users and activity into artifacts/interests/
	$(BIN)/python -m training.interests

serve: setup  ## the HTTP service on 127.0.0.1:$${PORT:-8000} (OpenAPI at /docs), over the published index
	$(BIN)/python -m serving.api --port $${PORT:-8000}

eval: setup  ## retrieval quality (BM25, dense, hybrid) on every corpus with queries and qrels -> OUTPUT_DIR/eval
	$(BIN)/python -m search.evaluate

# Two pytest processes at once, one per core: the engine modules (marked postgres or spark: they start servers and
# Spark, share the DuckDB reference run and take about as long as the rest) and every other module. The engines'
# output goes to logs/engine-tests.log and is printed after the others'; the target fails if either failed.
test: setup browser  ## the whole test suite (pytest: loaders, dbt on the real data, equivalence, API, models)
	@mkdir -p logs; \
	$(BIN)/python -m pytest -m "postgres or spark" -p no:cacheprovider > logs/engine-tests.log 2>&1 & engines=$$!; \
	$(BIN)/python -m pytest -m "not postgres and not spark"; others=$$?; \
	wait $$engines; engine_status=$$?; \
	echo "---------------- engine tests (postgres, spark): logs/engine-tests.log ----------------"; \
	cat logs/engine-tests.log; \
	test $$others -eq 0 -a $$engine_status -eq 0

browser:  ## headless Chromium for the data-docs browser test (Debian package; the test skips, saying why, without it)
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends chromium >/dev/null) || \
		echo "chromium could not be installed: tests/test_data_docs_browser.py will skip"

test-fast: setup  ## the test suite without the slow real-data rebuilds
	$(BIN)/python -m pytest -m "not slow"

bench: bench-scores bench-scores-postgres bench-engines bench-embedding bench-documents bench-search bench-pgvector bench-interests bench-load  ## all benchmarks: print figures (see docs/benchmarks.md)

bench-scores: setup  ## score pipeline: incremental build cost vs history, SQL vs pandas throughput
	$(BIN)/python -m benchmarks.scores

bench-scores-postgres: setup  ## the same incremental scenario on Postgres (a throwaway local server, or PG* when PGHOST is set)
	$(BIN)/python -m benchmarks.scores --target postgres

bench-engines: setup  ## DuckDB vs Spark: score pipeline at 100/1,000/5,000 batches (rows/s, peak memory, s per new batch), embedding texts/s on 1 and 2 executor cores
	$(BIN)/python -m benchmarks.engines embedding
	$(BIN)/python -m benchmarks.engines scores

bench-embedding: setup  ## the dbt embedding node per EMBEDDING_BACKEND vs SentenceTransformer.encode on 3,000 real MS MARCO passages; DL19 quality of the default against the float graph
	$(BIN)/python -m benchmarks.embedding
	$(BIN)/python -m benchmarks.embedding --quality

bench-documents: setup  ## document ingestion: throughput, peak RSS, cold start, naive predict.py ratio
	$(BIN)/python -m benchmarks.documents

bench-search: setup  ## search latency per mode (real corpus size and 100,000 vectors) and HTTP under load
	$(BIN)/python -m benchmarks.search

bench-pgvector: setup  ## Postgres backend: HNSW recall@10 vs exact on the real queries, p50/p95 at 100,000 vectors vs in memory
	$(BIN)/python -m benchmarks.pgvector

bench-interests: setup  ## GET /interests latency and requests/s under 50 concurrent clients
	$(BIN)/python -m benchmarks.interests

bench-load: setup wrk  ## GET /interests (50 clients) and GET /search (20 clients) under wrk, a compiled load generator, against issue 15's bars
	$(BIN)/python -m benchmarks.load

# wrk for bench-load: Debian's package, installed only when missing
wrk:
	@command -v wrk >/dev/null || { echo "[setup] bench-load needs wrk: installing it (apt-get)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null; }

sample-data: setup  ## regenerate sample_data/ (deterministic)
	$(BIN)/python -m synthetic

stop:  ## stop every local server the project started: Postgres (DBT_TARGET=postgres without PGHOST, interrupted tests; data kept in .engines/), Spark standalone clusters
	$(BIN)/python -m warehouse stop

clean:  ## remove the warehouse, dbt's target/ and outputs (keeps .venv)
	rm -rf target logs output warehouse.duckdb warehouse.duckdb.wal warehouse.published.duckdb
