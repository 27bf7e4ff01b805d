-- The judged queries of every retrieval corpus: the evaluation's questions (`make evaluate-retrieval`).
with queries as (
    select * from {{ ref('stg_corpus_queries') }}
),

final as (
    select corpus, query_id, query_text from queries
)

select * from final
