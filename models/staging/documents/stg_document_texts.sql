-- One row per raw document text, renamed. Nothing is filtered: empty texts and texts without pages are
-- rejected downstream so each one is accounted for.
with source as (
    select * from {{ source('raw', 'document_texts') }}
),

renamed as (
    select
        doc_id,
        position as source_position,
        text,
        page_refs,
        -- blank after normalisation (macros/text.sql): nothing but whitespace of any kind, control and
        -- zero-width characters; such a text has nothing to embed and becomes a blank_text reject
        {{ is_blank_text('text') }} as is_blank,
        source_file,
        loaded_at
    from source
)

select * from renamed
