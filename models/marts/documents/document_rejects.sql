-- Document texts that cannot be embedded and page refs that do not resolve, each with a reason: nothing a
-- document file contains is silently dropped.
with texts as (
    select * from {{ ref('int_document_texts_resolved') }}
),

refs as (
    select * from {{ ref('int_document_text_page_refs') }}
),

rejected_texts as (
    select
        doc_id,
        source_position,
        cast(null as varchar) as page_ref,
        reject_reason as reason,
        text
    from texts
    where reject_reason is not null
),

unresolved_refs as (
    select
        refs.doc_id,
        refs.source_position,
        refs.page_ref,
        'unresolved_page_ref' as reason,
        texts.text
    from refs
    inner join texts
        on texts.doc_id = refs.doc_id
        and texts.source_position = refs.source_position
    where refs.page_number is null
),

final as (
    select * from rejected_texts
    union all
    select * from unresolved_refs
)

select * from final
