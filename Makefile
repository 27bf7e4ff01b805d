# Two commands for a stranger: `make setup` then `make run`; `make test` proves it. `make help` lists the targets by
# stage: each `##@ <stage>` line below opens a group, each `target: ... ## text` line documents a target.
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

.PHONY: help setup java browser run land build publish export orchestrate backfill serve train-interests finetune-data finetune \
	promote-model evaluate-retrieval docs report lint test test-fast bench bench-landing bench-scores bench-scores-postgres \
	bench-engines bench-embedding bench-documents bench-search bench-pgvector bench-interests bench-load wrk \
	sample-data stop clean

##@ Setup (once per machine; everything installs here, never in `make test`)

$(BIN)/activate: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(BIN)/activate

setup: $(BIN)/activate java browser  ## .venv with the pinned packages (requirements.lock), Java 17 and Chromium (Debian)

# Java 17+ for DBT_TARGET=spark (pyspark runs on the JVM): Debian's openjdk-17-jre-headless, installed only when
# `java -version` reports none or an older one; the other targets work without it, so a failed install only warns
java:  ## Java 17 for DBT_TARGET=spark (Debian's openjdk-17-jre-headless, when missing)
	@java -version 2>&1 | grep -qE 'version "(1[7-9]|[2-9][0-9])' || { \
		echo "[setup] DBT_TARGET=spark needs Java 17: installing openjdk-17-jre-headless (apt-get)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			openjdk-17-jre-headless >/dev/null) || echo "[setup] Java 17 could not be installed: DBT_TARGET=spark will not run"; }

# only the data-docs browser test needs it, so a failed install only warns (the test skips, saying why)
browser:  ## headless Chromium for the data-docs browser test (Debian's chromium, when missing)
	@command -v chromium >/dev/null 2>&1 || { \
		echo "[setup] the data-docs browser test needs Chromium: installing chromium (apt-get)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			chromium >/dev/null) || echo "[setup] chromium could not be installed: tests/quality/test_data_docs_browser.py will skip"; }

##@ Run the platform

# The interest model trains on the warehouse (users, activity, title vectors) and user_interest_scores scores with
# it: dbt builds everything else first, then the model is trained if missing, then the mart and its children.
run: land  ## the main job: land DATA_DIR, dbt build, train if needed, publish, export, GX checkpoint
	$(DBT) build --exclude user_interest_scores+
	$(BIN)/python -m training.interests --if-missing
	$(DBT) build --select user_interest_scores+
	$(MAKE) publish export
	$(BIN)/python -m quality.checkpoint

land: setup  ## land every raw source found in DATA_DIR into the warehouse
	$(BIN)/python -m landing.land

build: setup  ## dbt build: seeds, models, tests and unit tests
	$(DBT) build

publish: setup  ## copy what the service reads to PUBLISHED_PATH, swapped in atomically
	$(BIN)/python -m pipeline.publish

export: setup  ## write the score marts and document vectors as Parquet under OUTPUT_DIR
	$(BIN)/python -m pipeline.export

orchestrate: setup  ## the orchestrator (Dagster) and its UI on 127.0.0.1:$${ORCHESTRATOR_PORT:-3000}: sensors run new batches and documents by themselves
	$(BIN)/python -m orchestration start

backfill: setup  ## re-run score batches FROM..TO through the running orchestrator: one queued run, recomputed (make backfill FROM=9 TO=11)
	$(BIN)/python -m orchestration backfill $(FROM) $(TO)

serve: setup  ## the HTTP service on 127.0.0.1:$${PORT:-8000} (OpenAPI at /docs), over the published index
	$(BIN)/python -m serving.api --port $${PORT:-8000}

##@ Models

train-interests: setup  ## train the interest model on the warehouse's users and activity into artifacts/interests/
	$(BIN)/python -m training.interests

finetune-data: setup  ## versioned fine-tuning set from the warehouse's msmarco-trec-dl -> ARTIFACTS_DIR/datasets/v<N>
	$(BIN)/python -m training.finetune_data

finetune: setup  ## fine-tune all-MiniLM-L6-v2 (MultipleNegativesRankingLoss, CPU, <= 20 min) -> ARTIFACTS_DIR/models/v<N>
	$(BIN)/python -m training.finetune

promote-model: setup  ## newest fine-tuned candidate vs current model on the warehouse's corpus; promote only if better
	$(BIN)/python -m training.promote

##@ Quality, docs and monitoring

evaluate-retrieval: setup  ## retrieval quality (BM25, dense, hybrid) on every corpus with queries and qrels -> OUTPUT_DIR/eval
	$(BIN)/python -m search.evaluate

docs: setup  ## dbt docs (target/) and Great Expectations data docs (gx/uncommitted/data_docs/local_site/index.html)
	$(DBT) docs generate
	-$(BIN)/python -m quality.checkpoint
	@echo "dbt docs: $(DBT) docs serve; data docs: open gx/uncommitted/data_docs/local_site/index.html"

report: setup  ## monitoring plots of the score marts (distribution, KS drift, growth) -> OUTPUT_DIR/report
	$(BIN)/python -m quality.report

##@ Tests

lint: setup  ## ruff check, ruff format --check, lint-imports (the package floors in pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# Two pytest processes at once, one per core: the engine modules (marked postgres or spark: they start servers and
# Spark, share the DuckDB reference run and take about as long as the rest) and every other module. The engines'
# output goes to logs/engine-tests.log and is printed after the others'; the target fails if either failed.
test: setup lint  ## lint, then the whole test suite (pytest: loaders, dbt on the real data, engines, API, models)
	@mkdir -p logs; \
	$(BIN)/python -m pytest -m "postgres or spark" -p no:cacheprovider > logs/engine-tests.log 2>&1 & engines=$$!; \
	$(BIN)/python -m pytest -m "not postgres and not spark"; others=$$?; \
	wait $$engines; engine_status=$$?; \
	echo "---------------- engine tests (postgres, spark): logs/engine-tests.log ----------------"; \
	cat logs/engine-tests.log; \
	test $$others -eq 0 -a $$engine_status -eq 0

test-fast: setup  ## the suite without the slow real-data rebuilds and without Postgres and Spark
	$(BIN)/python -m pytest -m "not slow and not postgres and not spark"

##@ Benchmarks (figures in docs/benchmarks.md)

bench: bench-landing bench-scores bench-scores-postgres bench-engines bench-embedding bench-documents bench-search bench-pgvector bench-interests bench-load  ## all benchmarks: print figures (see docs/benchmarks.md)

bench-landing: setup  ## landing one new score batch among 10, 1,000 and 5,000 landed files (python -m landing.land)
	$(BIN)/python -m benchmarks.landing

bench-scores: setup  ## score pipeline: incremental build cost vs history, SQL vs pandas throughput
	$(BIN)/python -m benchmarks.scores

bench-scores-postgres: setup  ## the same incremental scenario on Postgres (a throwaway local server, or PGHOST's)
	$(BIN)/python -m benchmarks.scores --target postgres

bench-engines: setup  ## DuckDB, Postgres, Spark: score pipeline at 100/1,000/5,000 batches (+ pandas loop; figure in docs/figures), embedding on Spark executors
	$(BIN)/python -m benchmarks.engines embedding
	$(BIN)/python -m benchmarks.engines scores --pandas

bench-embedding: setup  ## the dbt embedding node per EMBEDDING_BACKEND vs SentenceTransformer.encode; DL19 quality
	$(BIN)/python -m benchmarks.embedding
	$(BIN)/python -m benchmarks.embedding --quality

bench-documents: setup  ## document ingestion: throughput, peak RSS, cold start, naive predict.py ratio
	$(BIN)/python -m benchmarks.documents

bench-search: setup  ## search latency per mode (real corpus size and 100,000 vectors) and HTTP under load
	$(BIN)/python -m benchmarks.search

bench-pgvector: setup  ## SEARCH_BACKEND=postgres: HNSW recall@10 vs exact, p50/p95 at 100,000 vectors vs in memory
	$(BIN)/python -m benchmarks.pgvector

bench-interests: setup  ## GET /interests latency and requests/s under 50 concurrent clients
	$(BIN)/python -m benchmarks.interests

bench-load: setup wrk  ## GET /interests (50 clients) and GET /search (20 clients) under wrk, a compiled load generator
	$(BIN)/python -m benchmarks.load

# wrk for bench-load: Debian's package, installed only when missing
wrk:
	@command -v wrk >/dev/null || { echo "[setup] bench-load needs wrk: installing it (apt-get)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null; }

##@ Housekeeping

# Two passes over this file: the first measures the longest target name, the second prints the groups aligned.
help:  ## list the targets by stage
	@awk 'BEGIN { FS = ":.*## " } \
		NR == FNR { if ($$0 ~ /^[a-z-]+:.*## /) width = length($$1) > width ? length($$1) : width; next } \
		/^##@ / { printf "\n%s\n", substr($$0, 5) } \
		/^[a-z-]+:.*## / { gsub(/\$$\$$/, "$$", $$2); printf "  make %-*s  %s\n", width, $$1, $$2 }' \
		$(MAKEFILE_LIST) $(MAKEFILE_LIST)

sample-data: setup  ## regenerate sample_data/ (deterministic)
	$(BIN)/python -m synthetic

stop:  ## stop every local server the project started (the orchestrator, Postgres, Spark clusters); their data stays in .engines/
	$(BIN)/python -m orchestration stop
	$(BIN)/python -m warehouse stop

# python -m warehouse reset: the DuckDB file and its published copy, the local Postgres database, the Spark
# warehouse (never a server PGHOST names); without .venv there is no local engine to reset beyond the files
clean:  ## start over: empty every local engine's warehouse (DuckDB, local Postgres, Spark), remove target/ and outputs
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m warehouse reset; \
		else rm -f warehouse.duckdb warehouse.duckdb.wal warehouse.published.duckdb; fi
	rm -rf target logs output
