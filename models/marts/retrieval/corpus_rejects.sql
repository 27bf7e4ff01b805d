-- Corpus passages that cannot be indexed, with the reason: blank text, or text the model's tokenizer reads as
-- nothing (int_text_units_without_tokens). With the chunked passages they account for every landed passage.
with passages as (
    select * from {{ ref('stg_corpus_passages') }}
),

units_without_tokens as (
    select * from {{ ref('int_text_units_without_tokens') }}
    where source = 'corpus'
),

blank_passages as (
    select
        corpus,
        passage_id,
        source_position,
        'blank_text' as reason
    from passages
    where is_blank
),

untokenized_passages as (
    select
        source_id as corpus,
        unit_id as passage_id,
        source_position,
        'no_model_tokens' as reason
    from units_without_tokens
),

final as (
    select * from blank_passages
    union all
    select * from untokenized_passages
)

select * from final
