-- The usable score records: a ULID, a finite numeric score that is not the sentinel, a known industry.
with validated as (
    select * from {{ ref('int_score_records_validated') }}
),

clean as (
    select
        id,
        batch,
        record_index,
        score,
        industry,
        is_industry_repaired
    from validated
    where reject_reason is null
)

select * from clean
