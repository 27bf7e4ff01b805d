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
            when {{ regex_full_match('title', '\\s*') }} then text
            else title || ' ' || text
        end as passage_text,
        {{ regex_full_match('text', '\\s*') }} as is_blank,
        source_file,
        loaded_at
    from source
)

select * from renamed
