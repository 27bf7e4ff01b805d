-- One row per raw corpus passage, with the text the platform embeds and indexes: the title, when there is
-- one, before the passage (the BEIR convention).
with source as (
    select * from {{ source('raw', 'corpus_passages') }}
),

renamed as (
    select
        corpus,
        passage_id,
        position as source_position,
        title,
        text,
        case
            when {{ is_blank_text('title') }} then text
            else title || ' ' || text
        end as passage_text,
        {{ is_blank_text('text') }} as is_blank,
        source_file,
        loaded_at
    from source
)

select * from renamed
