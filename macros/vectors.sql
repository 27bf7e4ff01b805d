{#- Vectors: DuckDB keeps them as FLOAT[<dim>] arrays, Postgres as pgvector's vector(<dim>), Spark as
    array<float>. The Python model int_text_embeddings writes FLOAT[<dim>] through DuckDB on every engine (on
    Postgres that first lands as text, which its post-hook store_as_vector turns into vector(<dim>); on Spark as
    array<float>); the marts that expose vectors make them the engine's vector type here, and index them where
    the engine can. -#}
{% macro as_vector(expression) %}{{ return(adapter.dispatch('as_vector')(expression)) }}{% endmacro %}
{% macro default__as_vector(expression) %}cast({{ expression }} as vector({{ var('embedding_dim') }})){% endmacro %}
{% macro duckdb__as_vector(expression) %}{{ expression }}{% endmacro %}
{#- Spark: array<float> (no fixed length in the type; the contract and a test check 384) -#}
{% macro spark__as_vector(expression) %}cast({{ expression }} as array<float>){% endmacro %}

{#- inner product of two vectors (1 for a unit vector with itself) -#}
{% macro vector_inner_product(left, right) %}{{ return(adapter.dispatch('vector_inner_product')(left, right)) }}{% endmacro %}
{% macro default__vector_inner_product(left, right) %}(-({{ left }} <#> {{ right }})){% endmacro %}
{% macro duckdb__vector_inner_product(left, right) %}list_dot_product({{ left }}::float[], {{ right }}::float[]){% endmacro %}
{#- Spark: summed left to right in double (DuckDB's list_dot_product sums floats: expect differences near 1e-7) -#}
{% macro spark__vector_inner_product(left, right) -%}
    aggregate(zip_with({{ left }}, {{ right }}, (x, y) -> cast(x as double) * cast(y as double)), cast(0 as double), (acc, v) -> acc + v)
{%- endmacro %}

{#- post-hook: an approximate nearest-neighbour index on a vector column, where the engine has one in SQL
    (pgvector's HNSW, cosine distance); nothing on DuckDB, whose search is exact (docs/search.md). -#}
{% macro vector_index(column) %}{{ return(adapter.dispatch('vector_index')(column)) }}{% endmacro %}
{% macro default__vector_index(column) -%}
    create index if not exists {{ this.identifier }}_{{ column }}_hnsw on {{ this }} using hnsw ({{ column }} vector_cosine_ops)
{%- endmacro %}
{% macro duckdb__vector_index(column) %}{% endmacro %}
{% macro spark__vector_index(column) %}{% endmacro %}

{#- pre-hook of search_chunks (and run by int_text_embeddings' store_as_vector on Postgres): the engine's vector type available (pgvector on Postgres: the local server creates it too, an
    external PGHOST needs the extension created beforehand, or the right to create it) -#}
{% macro ensure_vector_type() %}{{ return(adapter.dispatch('ensure_vector_type')()) }}{% endmacro %}
{#- A user who may not create extensions (an RDS/Aurora or other managed-server user without rds_superuser) gets an error saying what to
    ask the administrator for, instead of "permission denied to create extension"; when the extension exists, nothing is created. -#}
{% macro default__ensure_vector_type() -%}
do $ensure_vector$
begin
    if not exists (select 1 from pg_extension where extname = 'vector') then
        begin
            create extension vector;
        exception when others then
            raise exception 'the database "%" has no vector extension (pgvector), which vector search needs, and user "%" cannot create it (%): ask the server''s administrator to run "create extension vector;" in that database (on RDS/Aurora: a user with rds_superuser)', current_database(), current_user, sqlerrm;
        end;
    end if;
end
$ensure_vector$
{%- endmacro %}
{% macro duckdb__ensure_vector_type() %}{% endmacro %}
{% macro spark__ensure_vector_type() %}{% endmacro %}

{#- post-hook of the Python model int_text_embeddings: its vector column stored as the engine's vector type. The
    model runs on dbt-duckdb everywhere but Spark; on DBT_TARGET=postgres its table is a table of the Postgres
    database attached to DuckDB (pipeline/duckdb_postgres_plugin.py), where DuckDB's postgres extension creates
    a FLOAT[<dim>] column as `character varying` holding the text form: there the column becomes vector(<dim>),
    once (then nothing; a table an older build left as text is converted by the next build), in Postgres itself
    (postgres_execute). Later appends of FLOAT[<dim>] rows land in it as vectors. Nothing on a DuckDB file or
    on Spark, whose FLOAT[<dim>] / array<float> is already the engine's own. -#}
{% macro store_as_vector(column) %}{{ return(adapter.dispatch('store_as_vector')(column)) }}{% endmacro %}
{% macro default__store_as_vector(column) %}{% endmacro %}
{% macro duckdb__store_as_vector(column) -%}
    {%- if execute -%}
        {%- set catalog = run_query("select type from duckdb_databases() where database_name = '" ~ this.database ~ "'") -%}
        {%- if catalog.rows and catalog.rows[0][0] == 'postgres' -%}
            {%- set table = '"' ~ this.schema ~ '"."' ~ this.identifier ~ '"' -%}
            {%- set vector_type = 'vector(' ~ var('embedding_dim') ~ ')' -%}
            {%- set convert -%}
{{ default__ensure_vector_type() }};
do $store_as_vector$
begin
    if (select format_type(atttypid, atttypmod) from pg_attribute
        where attrelid = '{{ table }}'::regclass and attname = '{{ column }}') <> '{{ vector_type }}' then
        alter table {{ table }} alter column "{{ column }}" type {{ vector_type }} using cast("{{ column }}" as {{ vector_type }});
    end if;
end
$store_as_vector$
            {%- endset -%}
            {#- pg_clear_cache: DuckDB's cached column type of the table is stale -#}
            call postgres_execute('{{ this.database }}', '{{ convert | replace("'", "''") }}'); call pg_clear_cache()
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
{% macro spark__store_as_vector(column) %}{% endmacro %}
