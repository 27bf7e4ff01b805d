-- The searchable unit of every ingested document: its chunks in document order with their real page
-- numbers and the vector of the current embedding model. DuckDB-specific by design: `pages` is an
-- INTEGER[] list and `embedding` a fixed-size FLOAT[<dim>] array (the vector-store export keeps both).
with chunks as (
    select * from {{ ref('text_chunks') }}
    where source = 'document'
),

embeddings as (
    select content_hash, model_id, embedding from {{ ref('text_embeddings') }}
),

final as (
    select
        chunks.doc_id,
        chunks.chunk_id,
        chunks.chunk_index,
        chunks.source_position,
        chunks.text,
        chunks.pages,
        chunks.token_count,
        chunks.content_hash,
        chunks.model_id,
        embeddings.embedding
    from chunks
    inner join embeddings
        on embeddings.content_hash = chunks.content_hash
        and embeddings.model_id = chunks.model_id
)

select * from final
