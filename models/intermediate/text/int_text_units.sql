-- Every text the platform embeds, from every source, in one shape: the single input of chunking and
-- embedding (one chunk table, one embedding model, whatever the source). A text is keyed by its `source`
-- (the kind: document, corpus, title), `source_id` (which one: the document id, the corpus name, 'activity'
-- for the content titles) and its position there; `unit_id` is the source's own id of the text: a document
-- text's position, a corpus passage's id, a content title's hash. Titles users consumed are embedded once
-- each, however many users read them (the interest model's input).
with document_texts as (
    select * from {{ ref('int_document_texts_resolved') }}
    where reject_reason is null
),

corpus_passages as (
    select * from {{ ref('stg_corpus_passages') }}
    where not is_blank
),

activity_titles as (
    select distinct title from {{ ref('int_user_activity_titles') }}
),

units as (
    select
        'document' as source,
        doc_id as source_id,
        source_position,
        cast(source_position as {{ dbt.type_string() }}) as unit_id,
        text,
        pages
    from document_texts
    union all
    select
        'corpus' as source,
        corpus as source_id,
        source_position,
        passage_id as unit_id,
        passage_text as text,
        null as pages
    from corpus_passages
    union all
    select
        'title' as source,
        'activity' as source_id,
        cast(row_number() over (order by title) as integer) as source_position,
        {{ dbt.hash('title') }} as unit_id,
        title as text,
        null as pages
    from activity_titles
)

select * from units
