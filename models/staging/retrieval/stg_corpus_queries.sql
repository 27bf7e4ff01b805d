-- The judged queries of each retrieval corpus.
with source as (
    select * from {{ source('raw', 'corpus_queries') }}
),

renamed as (
    select
        corpus,
        query_id,
        text as query_text,
        loaded_at
    from source
)

select * from renamed
