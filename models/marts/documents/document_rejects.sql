-- Document texts that cannot be embedded and page refs that do not resolve, each with a reason: nothing a
-- document file contains is silently dropped. A text the model's tokenizer reads as nothing (private-use glyphs,
-- lone combining marks: not blank, yet no token) is known only once int_text_chunks has cut it into no chunk.
with texts as (
    select * from {{ ref('int_document_texts_resolved') }}
),

units_without_tokens as (
    select * from {{ ref('int_text_units_without_tokens') }}
    where source = 'document'
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

untokenized_texts as (
    select
        source_id as doc_id,
        source_position,
        {{ cast('null', 'varchar') }} as page_ref,
        'no_model_tokens' as reason,
        text
    from units_without_tokens
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
    select * from untokenized_texts
    union all
    select * from unresolved_refs
)

select * from final
