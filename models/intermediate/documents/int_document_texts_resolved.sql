-- Every document text with its real page numbers (sorted, distinct), the refs missing from the page map and,
-- when the text cannot be used, why: blank_text, no_page_refs (no "pages" or an empty list), or
-- no_resolvable_page (none of its refs is in the page map). A text with some unresolvable refs keeps the
-- pages that resolve; document_rejects reports the text's rejection and each of its unresolvable refs.
with texts as (
    select * from {{ ref('stg_document_texts') }}
),

refs as (
    select * from {{ ref('int_document_text_page_refs') }}
),

pages_per_text as (
    select
        doc_id,
        source_position,
        count(*) as page_ref_count,
        count(page_number) as resolved_ref_count,
        {{ sorted_array_agg('page_number', 'page_number is not null', distinct=true) }} as pages,
        {{ sorted_array_agg('page_ref', 'page_number is null') }} as unresolved_page_refs
    from refs
    group by doc_id, source_position
),

resolved as (
    select
        texts.doc_id,
        texts.source_position,
        texts.text,
        {{ coalesce_array('pages_per_text.pages', 'integer') }} as pages,
        {{ coalesce_array('pages_per_text.unresolved_page_refs', 'varchar') }} as unresolved_page_refs,
        coalesce(pages_per_text.page_ref_count, 0) as page_ref_count,
        coalesce(pages_per_text.resolved_ref_count, 0) as resolved_ref_count,
        case
            when texts.is_blank then 'blank_text'
            when coalesce(pages_per_text.page_ref_count, 0) = 0 then 'no_page_refs'
            when pages_per_text.resolved_ref_count = 0 then 'no_resolvable_page'
        end as reject_reason
    from texts
    left join pages_per_text using (doc_id, source_position)
)

select * from resolved
