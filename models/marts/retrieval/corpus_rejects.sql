-- Corpus passages that cannot be indexed (empty or whitespace-only text), with the reason: with the indexed
-- passages (int_text_units) they account for every landed passage.
with passages as (
    select * from {{ ref('stg_corpus_passages') }}
),

final as (
    select
        corpus,
        passage_id,
        source_position,
        'blank_text' as reason
    from passages
    where is_blank
)

select * from final
