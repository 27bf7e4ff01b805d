-- Every text the platform embeds, from every source, in one shape: the single input of chunking and
-- embedding (one chunk table, one embedding model, whatever the source).
with document_texts as (
    select * from {{ ref('int_document_texts_resolved') }}
    where reject_reason is null
),

units as (
    select
        'document' as source,
        doc_id,
        source_position,
        text,
        pages
    from document_texts
)

select * from units
