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
        -- trim() only strips spaces; a text of newlines and tabs is blank too
        {{ regex_full_match('text', '\\s*') }} as is_blank,
        source_file,
        loaded_at
    from source
)

select * from renamed
