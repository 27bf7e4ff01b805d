-- The searchable unit of every ingested document: its chunks in document order with their real page
-- numbers and the vector of the current embedding model. `pages` is an integer array and `embedding` the
-- engine's vector type, as search_chunks makes it (macros/vectors.sql); the vector-store export keeps both.
{{ config(post_hook="{{ vector_index('embedding') }}") }}

with search_chunks as (
    select * from {{ ref('search_chunks') }}
    where source = 'document'
),

final as (
    select
        doc_id,
        chunk_id,
        chunk_index,
        source_position,
        text,
        pages,
        token_count,
        content_hash,
        model_id,
        embedding
    from search_chunks
)

select * from final
