-- One row per (text, page ref) with the page number the ref resolves to (null when it does not).
-- Unnesting the ref list is the one list operation of the document path (list_to_rows: `unnest` on
-- DuckDB and Postgres, `explode` on Spark).
with texts as (
    select doc_id, source_position, page_refs from {{ ref('stg_document_texts') }}
),

pages as (
    select * from {{ ref('stg_document_pages') }}
),

text_refs as (
    select
        doc_id,
        source_position,
        {{ list_to_rows("page_refs") }} as page_ref
    from texts
),

resolved as (
    select
        text_refs.doc_id,
        text_refs.source_position,
        text_refs.page_ref,
        pages.page_number
    from text_refs
    left join pages using (doc_id, page_ref)
)

select * from resolved
