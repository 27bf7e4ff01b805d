-- Graded relevance judgments of each retrieval corpus.
with source as (
    select * from {{ source('raw', 'corpus_qrels') }}
),

renamed as (
    select
        corpus,
        query_id,
        passage_id,
        grade,
        loaded_at
    from source
)

select * from renamed
