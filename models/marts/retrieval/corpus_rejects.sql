-- Corpus passages that cannot be indexed, with the reason: blank text, or text the model's tokenizer reads as
-- nothing (no chunk in text_chunks). With the chunked passages they account for every landed passage.
with passages as (
    select * from {{ ref('stg_corpus_passages') }}
),

units as (
    select * from {{ ref('int_text_units') }}
    where source = 'corpus'
),

first_chunks as (
    select * from {{ ref('text_chunks') }}
    where source = 'corpus' and chunk_index = 0
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
        units.source_id as corpus,
        units.unit_id as passage_id,
        units.source_position,
        'no_model_tokens' as reason
    from units
    left join first_chunks
        on first_chunks.source_id = units.source_id and first_chunks.source_position = units.source_position
    where first_chunks.source_position is null
),

final as (
    select * from blank_passages
    union all
    select * from untokenized_passages
)

select * from final
