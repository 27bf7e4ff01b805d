"""Settings read once from the environment: where data comes from, where the warehouse lives, which models.

`Settings.from_env()` is called only by entry points (each CLI's `main`, the service's app factory, each dbt
Python model, and the public Python entry points `ingest()` and `Retriever()` when given nothing); everything
below them takes what it needs as parameters. This file holds the one default of every setting: the Makefile
and profiles.yml take theirs from here (dbt runs through `pipeline.dbt_runner`, which passes DUCKDB_PATH on).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    if not value:
        return default
    path = Path(value).expanduser()
    return path if path.is_absolute() else (Path.cwd() / path).resolve()


def _seconds(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    try:
        return float(value) if value.strip() else default
    except ValueError:
        raise ValueError(f"{name}={value!r}: expected a number of seconds") from None


def _count(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name}={value!r}: expected a whole number of at least 1")
    return int(value)


def _port_number(name: str, value: str) -> int:
    if not value.strip().isdigit() or not 1 <= int(value) <= 65535:
        raise ValueError(f"{name}={value!r}: expected a TCP port number (1-65535)")
    return int(value)


def _port(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return _port_number(name, value) if value else default


def _memory_size(name: str, default: str) -> str:
    """A size DuckDB accepts as a memory limit ('3GB', '512MiB'), checked here: a typo fails in one line at the
    entry point, not inside dbt's connection to the warehouse."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not re.fullmatch(r"\d+(\.\d+)?\s*(B|[KMGT]i?B)", value, flags=re.IGNORECASE):
        raise ValueError(f"{name}={value!r}: expected a size such as 3GB, 512MB or 8GiB")
    return value


# Switches read by third-party libraries, not settings of ours: the function that imports a library puts them into
# the environment (unless the user set them) just before that import, never an import of one of our modules
HUGGING_FACE_DEFAULTS = {
    "HF_HUB_OFFLINE": "1",  # weights come from disk, never from a hub (huggingface_hub reads it when imported)
    "TOKENIZERS_PARALLELISM": "false",  # no fork warning from the Rust tokenizers
}
GX_DEFAULTS = {"GX_ANALYTICS_ENABLED": "false"}  # no Great Expectations telemetry


def library_defaults(defaults: dict[str, str]) -> None:
    """Each of `defaults` into os.environ where unset: call it before importing the library that reads them."""
    for name, value in defaults.items():
        os.environ.setdefault(name, value)


DEFAULT_DUCKDB_MEMORY_LIMIT = "3GB"  # Settings.duckdb_memory_limit
ENGINES = ("duckdb", "postgres", "spark")  # what DBT_TARGET may name: profiles.yml's outputs

# EMBEDDING_BACKEND: sentence-transformers on PyTorch, or the model exported to ONNX (float, or int8 weights) and
# run by ONNX Runtime, or its float graph run by OpenVINO in bfloat16, its weights as they are or stored in int8
# (embeddings.onnx_encoder)
# Measured on 3,000 real MS MARCO passages and DL19 (docs/benchmarks.md, "Embeddings"): the dbt node with
# openvino-int8 3.5-3.9x the library default, nDCG@10 -0.002 against torch's vectors; onnx (torch's vectors, cosine
# >= 0.99999) 1.8x; onnx-int8 3.4x but -0.009 nDCG@10, more than the 0.005 the default may lose
BACKENDS = ("onnx", "onnx-int8", "openvino", "openvino-int8", "torch")
DEFAULT_BACKEND = "openvino-int8"


def check_backend(name: str) -> str:
    """`name` if it is an embedding backend (EMBEDDING_BACKEND, a ModelSpec's backend)."""
    if name not in BACKENDS:
        raise ValueError(f"EMBEDDING_BACKEND={name!r}: expected one of {', '.join(BACKENDS)}")
    return name


def _engine(name: str) -> str:
    if name not in ENGINES:
        raise ValueError(f"DBT_TARGET={name!r}: expected one of {', '.join(ENGINES)}")
    return name


ORCHESTRATOR_STORAGES = ("sqlite", "postgres")  # where the orchestrator keeps its runs and events


def _orchestrator_storage(name: str) -> str:
    if name not in ORCHESTRATOR_STORAGES:
        raise ValueError(f"ORCHESTRATOR_STORAGE={name!r}: expected one of {', '.join(ORCHESTRATOR_STORAGES)}")
    return name


SEARCH_BACKENDS = ("memory", "postgres")


def check_search_backend(name: str) -> str:
    """`name` if it is a search backend (SEARCH_BACKEND, or a Retriever's / the app's `backend` argument)."""
    if name not in SEARCH_BACKENDS:
        raise ValueError(f"unknown search backend {name!r} (SEARCH_BACKEND): use one of {', '.join(SEARCH_BACKENDS)}")
    return name


LOCAL_DATABASE = "warehouse"  # the database of the project's local server, and PGDATABASE's default
LOCAL_USER = "postgres"


@dataclass(frozen=True)
class PostgresServer:
    """A Postgres database to connect to: PG* (an external server), or the project's local server."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    dbname: str = LOCAL_DATABASE

    def __str__(self) -> str:  # for messages and provenance: never the password
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"

    def env(self) -> dict[str, str]:
        """The PG* variables libpq, psycopg and profiles.yml read."""
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGPASSWORD": self.password,
            "PGDATABASE": self.dbname,
        }

    def dsn(self) -> str:
        """libpq key=value string (psycopg, DuckDB's ATTACH ... (TYPE postgres))."""
        parts = {"host": self.host, "port": self.port, "user": self.user, "dbname": self.dbname}
        if self.password:
            parts["password"] = self.password
        return " ".join(f"{key}={value}" for key, value in parts.items())

    def url(self) -> str:
        secret = f":{self.password}" if self.password else ""
        return f"postgresql://{self.user}{secret}@{self.host}:{self.port}/{self.dbname}"


def external_server(env: dict[str, str]) -> PostgresServer | None:
    """The server the PG* variables of `env` name, None without PGHOST."""
    if not env.get("PGHOST"):
        return None
    return PostgresServer(
        env["PGHOST"],
        _port_number("PGPORT", env.get("PGPORT") or "5432"),
        env.get("PGUSER") or LOCAL_USER,
        env.get("PGPASSWORD", ""),
        env.get("PGDATABASE") or LOCAL_DATABASE,
    )


MIN_API_TOKEN_LENGTH = 16


def check_api_token(token: str) -> str | None:
    """API_TOKEN as the service compares it: empty means none; otherwise at least 16 visible ASCII characters
    (a bearer token travels in a header: no spaces or control characters). The refusal never echoes it."""
    if not token:
        return None
    if len(token) < MIN_API_TOKEN_LENGTH or not all("!" <= ch <= "~" for ch in token):
        raise ValueError(
            f"API_TOKEN must be at least {MIN_API_TOKEN_LENGTH} visible ASCII characters without "
            f"spaces (it has {len(token)} characters)"
        )
    return token


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    duckdb_path: Path
    output_dir: Path
    artifacts_dir: Path  # git-ignored: model cache, datasets, trained models, the promotion pointer
    embedding_model: str  # a model source (embeddings.model_source); empty: the promoted model, else the packaged one
    published_path: Path  # the read-only copy the service reads (pipeline.publish), never the warehouse itself
    interests_model: Path | None  # an interest model version folder; None: ARTIFACTS_DIR/interests/LATEST
    search_refresh_seconds: float  # how often the service looks for a newly published copy
    # DUCKDB_MEMORY_LIMIT: what DuckDB may hold in memory while dbt builds (DuckDB's memory_limit); past it,
    # sorts, joins and aggregates spill to `<DUCKDB_PATH>.tmp/`, so a full rebuild of any history stays bounded
    # (docs/benchmarks.md, "Score pipeline at scale"). DuckDB's own default is 80% of the machine.
    duckdb_memory_limit: str = DEFAULT_DUCKDB_MEMORY_LIMIT
    dbt_target: str = "duckdb"  # the engine (warehouse): duckdb (the file above) or postgres (PG*)
    postgres_server: object | None = None  # PG* when PGHOST is set (warehouse.local_postgres.Connection), else
    # None: DBT_TARGET=postgres then starts or reuses the project's local server
    search_backend: str = "memory"  # where dense search runs (search.retriever): memory (the published DuckDB
    # copy, exact) or postgres (pgvector's HNSW index on search_chunks, on postgres_server or the local server)
    spark_dir: Path = PROJECT_ROOT / ".engines" / "spark"  # DBT_TARGET=spark: ledger, raw Parquet, tables, metastore
    spark_master: str = "local[*]"  # DBT_TARGET=spark: the session's master (spark://host:7077, yarn, k8s://...)
    # engine tuning, Spark's own names: SPARK_SHUFFLE_PARTITIONS (spark.sql.shuffle.partitions), SPARK_DRIVER_MEMORY
    # (spark.driver.memory: in local mode the executors' too), SPARK_WORKER_CORES and SPARK_WORKER_MEMORY (the
    # workers of a local standalone cluster, warehouse.spark_cluster; default: every core)
    spark_shuffle_partitions: int = 4
    spark_driver_memory: str = "4g"
    spark_worker_cores: int = 1
    spark_worker_memory: str = "2g"
    dbt_target_path: Path = PROJECT_ROOT / "target"  # DBT_TARGET_PATH: dbt's target folder (manifest, logs)
    embedding_backend: str = DEFAULT_BACKEND  # what runs the embedding model (embeddings.model_source.BACKENDS)
    # API_TOKEN: the bearer token every endpoint but /health requires; None: no authentication (loopback use).
    # Out of the repr, so printing the settings never shows it.
    api_token: str | None = field(default=None, repr=False)
    # SERVE_WORKERS: the service's processes (python -m serving.api), each with its own model and index copy; 2
    # measured twice one's GET /interests throughput on 2 cores (docs/benchmarks.md, "The service under load")
    serve_workers: int = 2
    # the orchestrator (python -m orchestration, `make orchestrate`): its UI's port on 127.0.0.1, the folder of its
    # state (ORCHESTRATOR_HOME: DAGSTER_HOME, git-ignored under .engines/), and where it keeps runs and events:
    # sqlite files there, or postgres (the server PG* names, else the project's local one; database `orchestrator`)
    orchestrator_port: int = 3000
    orchestrator_home: Path = PROJECT_ROOT / ".engines" / "orchestrator"
    orchestrator_storage: str = "sqlite"

    @classmethod
    def from_env(cls) -> "Settings":
        duckdb_path = _path("DUCKDB_PATH", PROJECT_ROOT / "warehouse.duckdb")
        interests_model = os.environ.get("INTERESTS_MODEL", "")
        return cls(
            data_dir=_path("DATA_DIR", PROJECT_ROOT / "sample_data"),
            duckdb_path=duckdb_path,
            output_dir=_path("OUTPUT_DIR", PROJECT_ROOT / "output"),
            artifacts_dir=_path("ARTIFACTS_DIR", PROJECT_ROOT / "artifacts"),
            embedding_model=os.environ.get("EMBEDDING_MODEL", ""),
            published_path=_path("PUBLISHED_PATH", duckdb_path.with_name(duckdb_path.stem + ".published.duckdb")),
            interests_model=_path("INTERESTS_MODEL", PROJECT_ROOT) if interests_model else None,
            search_refresh_seconds=_seconds("SEARCH_REFRESH_SECONDS", 2.0),
            duckdb_memory_limit=_memory_size("DUCKDB_MEMORY_LIMIT", DEFAULT_DUCKDB_MEMORY_LIMIT),
            dbt_target=_engine(os.environ.get("DBT_TARGET", "") or "duckdb"),
            postgres_server=external_server(dict(os.environ)),
            search_backend=check_search_backend(os.environ.get("SEARCH_BACKEND", "") or "memory"),
            spark_dir=_path("SPARK_DIR", PROJECT_ROOT / ".engines" / "spark"),
            spark_master=os.environ.get("SPARK_MASTER", "") or "local[*]",
            spark_shuffle_partitions=_count("SPARK_SHUFFLE_PARTITIONS", 4),
            spark_driver_memory=os.environ.get("SPARK_DRIVER_MEMORY", "") or "4g",
            spark_worker_cores=_count("SPARK_WORKER_CORES", os.cpu_count() or 1),
            spark_worker_memory=os.environ.get("SPARK_WORKER_MEMORY", "") or "2g",
            dbt_target_path=_path("DBT_TARGET_PATH", PROJECT_ROOT / "target"),
            embedding_backend=check_backend(os.environ.get("EMBEDDING_BACKEND", "") or DEFAULT_BACKEND),
            api_token=check_api_token(os.environ.get("API_TOKEN", "")),
            serve_workers=_count("SERVE_WORKERS", 2),
            orchestrator_port=_port("ORCHESTRATOR_PORT", 3000),
            orchestrator_home=_path("ORCHESTRATOR_HOME", PROJECT_ROOT / ".engines" / "orchestrator"),
            orchestrator_storage=_orchestrator_storage(os.environ.get("ORCHESTRATOR_STORAGE", "") or "sqlite"),
        )
