"""On DBT_TARGET=postgres, int_text_embeddings stores pgvector's vector(384), not the text form of the FLOAT[384]
DuckDB writes (its post-hook store_as_vector, macros/vectors.sql): when the table is created, when later builds
append vectors through DuckDB, and when an older build left the column as text; the stored vectors are exactly the
encoder's. The real document's table is checked in test_postgres_target.py; here the hashing encoder keeps it fast.
"""

from __future__ import annotations

import numpy as np
import psycopg2
import pytest

from embeddings.encoders import HashingEncoder
from landing.land import land_all
from pipeline.dbt_runner import run_dbt
from pipeline.ingest import DOCUMENT_BUILD
from tests.support.data import write_doc
from tests.support.warehouses import throwaway_postgres
from warehouse import PostgresWarehouse
from warehouse.postgres import connect_postgres

HASHING = {"EMBEDDING_MODEL": "hashing"}  # 384 dimensions, weights-free, deterministic
VECTOR_BYTES = 8 + 4 * 384  # pgvector: a 4-byte varlena header, dim and unused (2 bytes each), 384 float4


@pytest.fixture(scope="module")
def postgres():
    yield from throwaway_postgres("postgres-test-vectors")


def column_type(server) -> tuple[str, int | None]:
    """(the Postgres type of int_text_embeddings.embedding, the largest pg_column_size of its values)."""
    con = psycopg2.connect(server.dsn())
    try:
        with con.cursor() as cursor:
            cursor.execute(
                "select format_type(atttypid, atttypmod) from pg_attribute "
                "where attrelid = 'int_text_embeddings'::regclass and attname = 'embedding'"
            )
            (type_name,) = cursor.fetchone()
            cursor.execute("select max(pg_column_size(embedding)) from int_text_embeddings")
            return type_name, cursor.fetchone()[0]
    finally:
        con.close()


def stored_and_encoded(server) -> tuple[np.ndarray, np.ndarray]:
    """(the stored vectors, the hashing encoder's vectors of their chunk texts), in content_hash order."""
    with connect_postgres(server.dsn(), read_only=True) as con:
        rows = con.execute(
            "select e.content_hash, min(c.text), any_value(cast(e.embedding as float[])) "
            "from int_text_embeddings as e join int_text_chunks as c using (content_hash, model_id) "
            "group by e.content_hash order by e.content_hash"
        ).fetchall()
    stored = np.array([vector for _, _, vector in rows], dtype=np.float32)
    return stored, HashingEncoder(384).encode([text for _, text, _ in rows])


def build(server, folder) -> str:
    return run_dbt(PostgresWarehouse(server), ["build", *DOCUMENT_BUILD], folder / "target", extra_env=HASHING).stdout


def test_int_text_embeddings_stores_vector_384_when_created_appended_and_migrated(postgres, tmp_path):
    data = tmp_path / "data"
    write_doc(data / "documents", "d1")
    land_all(data, PostgresWarehouse(postgres))
    assert "2 chunks to encode, 0 already encoded" in build(postgres, tmp_path)
    assert column_type(postgres) == ("vector(384)", VECTOR_BYTES)  # was ('character varying', 2,000 and more)

    # a later build appends its new vectors (dbt-duckdb's insert from a DuckDB temp table) into the vector column
    texts = [{"text": "A third text about eggs.", "pages": ["ref-a"]}, {"text": "Boil it.", "pages": ["ref-b"]}]
    write_doc(data / "documents", "d2", texts=texts)
    land_all(data, PostgresWarehouse(postgres))
    assert "2 chunks to encode, 2 already encoded" in build(postgres, tmp_path)
    assert column_type(postgres) == ("vector(384)", VECTOR_BYTES)
    stored, encoded = stored_and_encoded(postgres)
    assert stored.shape == (4, 384) and np.array_equal(stored, encoded)  # exactly the encoder's float32 values

    # a table an older build left as text is converted by the next build, its vectors unchanged
    con = psycopg2.connect(postgres.dsn())
    con.autocommit = True
    with con.cursor() as cursor:
        cursor.execute("alter table int_text_embeddings alter column embedding type varchar using embedding::varchar")
    con.close()
    assert column_type(postgres)[0] == "character varying"
    assert "0 chunks to encode, 4 already encoded" in build(postgres, tmp_path)
    assert column_type(postgres) == ("vector(384)", VECTOR_BYTES)
    assert np.array_equal(stored_and_encoded(postgres)[0], stored)
