-- Raw score records that cannot be used, with the reason: nothing the feed sends is silently dropped.
{{ config(materialized='incremental', incremental_strategy='append', meta={'high_water_mark': 'batch'}) }}

with validated as (
    select * from {{ ref('int_score_records_validated') }}
    where {{ after_high_water_mark('batch') }}
),

rejects as (
    select
        id,
        batch,
        record_index,
        raw_score,
        raw_score_type,
        raw_industry,
        reject_reason as reason,
        industry as repaired_industry,
        source_file,
        loaded_at
    from validated
    where reject_reason is not null
)

select * from rejects
