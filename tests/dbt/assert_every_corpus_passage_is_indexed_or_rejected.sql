-- Conservation for corpora: every landed passage is either an indexed text unit or a corpus reject, exactly
-- once. Returns the passages that are lost or doubled.
with passages as (
    select corpus, source_position from {{ ref('stg_corpus_passages') }}
),

outputs as (
    select doc_id as corpus, source_position from {{ ref('int_text_units') }} where source = 'corpus'
    union all
    select corpus, source_position from {{ ref('corpus_rejects') }}
),

output_counts as (
    select corpus, source_position, count(*) as times_output
    from outputs
    group by corpus, source_position
),

final as (
    select
        coalesce(passages.corpus, output_counts.corpus) as corpus,
        coalesce(passages.source_position, output_counts.source_position) as source_position,
        coalesce(output_counts.times_output, 0) as times_output
    from passages
    full outer join output_counts
        on output_counts.corpus = passages.corpus
        and output_counts.source_position = passages.source_position
    where output_counts.times_output is distinct from 1 or passages.corpus is null
)

select * from final
