-- Graded relevance judgments of every retrieval corpus: the evaluation's answers (`make evaluate-retrieval`).
with qrels as (
    select * from {{ ref('stg_corpus_qrels') }}
),

final as (
    select corpus, query_id, passage_id, grade from qrels
)

select * from final
