-- The page map of each document: page ref -> page number.
with source as (
    select * from {{ source('raw', 'document_pages') }}
),

renamed as (
    select
        doc_id,
        page_ref,
        page_number
    from source
)

select * from renamed
