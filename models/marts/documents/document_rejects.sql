-- Document texts that cannot be embedded and page refs that do not resolve, each with a reason: nothing a
-- document file contains is silently dropped.
with texts as (
    select * from {{ ref('int_document_texts_resolved') }}
),

rejected_texts as (
    select
        doc_id,
        source_position,
        {{ cast('null', 'varchar') }} as page_ref,
        reject_reason as reason,
        text
    from texts
    where reject_reason is not null
),

unresolved_refs as (
    select
        doc_id,
        source_position,
        {{ list_to_rows("unresolved_page_refs") }} as page_ref,
        'unresolved_page_ref' as reason,
        text
    from texts
),

final as (
    select * from rejected_texts
    union all
    select * from unresolved_refs
)

select * from final
