-- The search index's source of truth: every chunk of every source (document texts, corpus passages) with the
-- current embedding model's vector. `result_id` is what a search returns: a corpus passage's own id, or
-- `<doc_id>:<chunk_id>` for a document chunk. document_chunks is this table's document part. Portable: the
-- vector is the engine's own type through as_vector (FLOAT[<dim>] on DuckDB, pgvector's vector(<dim>) on
-- Postgres, array<float> on Spark; macros/vectors.sql), with an HNSW index where the engine has one in SQL.
{{ config(pre_hook="{{ ensure_vector_type() }}", post_hook="{{ vector_index('embedding') }}") }}

with chunks as (
    select * from {{ ref('int_text_chunks') }}
    where source in ('document', 'corpus')  -- content titles are embedded for the interest model, not searched
),

embeddings as (
    select content_hash, model_id, embedding from {{ ref('int_text_embeddings') }}
),

final as (
    select
        chunks.source,
        -- the public name of the chunk's source: a document id, or a corpus name
        chunks.source_id as doc_id,
        chunks.unit_id,
        chunks.chunk_id,
        case
            when chunks.source = 'corpus' then chunks.unit_id
            else chunks.source_id || ':' || chunks.chunk_id
        end as result_id,
        chunks.chunk_index,
        chunks.source_position,
        chunks.text,
        chunks.pages,
        chunks.token_count,
        chunks.content_hash,
        chunks.model_id,
        {{ as_vector('embeddings.embedding') }} as embedding
    from chunks
    inner join embeddings using (content_hash, model_id)
)

select * from final
