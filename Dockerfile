# One image for the platform's processes. No Docker engine runs on our development machines or CI, so this
# file is kept simple and is not built in CI; docs/deployment.md ("Container") has the commands, limits and figures.
#
#   docker build -t ml-platform --build-arg PIP_EXTRA_INDEX_URL=<PyTorch CPU wheel index> .
#   docker run --rm --cpus=1.5 --memory=2g -v /path/to/data:/data:ro -v ml-platform-work:/work ml-platform
#
# Without the CPU wheel index, pip resolves torch==2.13.0 to the multi-GB CUDA build.
FROM python:3.11-slim AS base
ARG PIP_EXTRA_INDEX_URL=""
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    DATA_DIR=/data \
    DUCKDB_PATH=/work/warehouse.duckdb \
    OUTPUT_DIR=/work/output \
    ARTIFACTS_DIR=/work/artifacts \
    DBT_PROFILES_DIR=/app
WORKDIR /app
COPY requirements.lock pyproject.toml ./
RUN pip install -r requirements.lock
COPY dbt_project.yml profiles.yml ./
# the packages the ingestion and serving targets import (training, quality, benchmarks stay out)
COPY core/ core/
COPY warehouse/ warehouse/
COPY embeddings/ embeddings/
COPY landing/ landing/
COPY pipeline/ pipeline/
COPY ingestion/ ingestion/
COPY search/ search/
COPY serving/ serving/
COPY synthetic/ synthetic/
COPY models/ models/
COPY macros/ macros/
COPY seeds/ seeds/
RUN pip install --no-deps --no-build-isolation -e . && dbt parse --quiet
RUN useradd --create-home platform && mkdir -p /work && chown platform /work /app
USER platform
VOLUME ["/work"]

# Offline ingestion: lands DATA_DIR/documents/texts_12345.json + pages_12345.csv, builds chunks and vectors.
FROM base AS ingestion
CMD ["python", "-m", "ingestion", "12345"]

# The HTTP service (serving.api, OpenAPI at /docs). It reads only the published copy of the search index, never
# the warehouse, and reloads it when a new copy is published. Mount the *folder* holding it (a bind mount of the
# file itself would pin the old inode and miss the atomic rename that publishes a new copy), e.g. the work volume
# the ingestion container writes to (`python -m ingestion <id>` publishes after its build):
#   docker build --target serving -t ml-platform-serving --build-arg PIP_EXTRA_INDEX_URL=<...> .
#   docker run --rm -p 8000:8000 -v ml-platform-work:/work:ro ml-platform-serving
# PUBLISHED_PATH: the published index (default beside DUCKDB_PATH); SEARCH_REFRESH_SECONDS: how often to look
# for a new copy; EMBEDDING_MODEL: must be the model the index was built with.
FROM base AS serving
ENV PUBLISHED_PATH=/work/warehouse.published.duckdb \
    SEARCH_REFRESH_SECONDS=2
EXPOSE 8000
CMD ["python", "-m", "serving.api", "--host", "0.0.0.0", "--port", "8000"]
