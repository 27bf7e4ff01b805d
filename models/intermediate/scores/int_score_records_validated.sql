-- Every raw score record with its verdict: the repaired industry, the numeric score and, for a record that
-- cannot be used, the first reason it fails (checked in a fixed order). Incremental by batch: batches are
-- immutable once landed, so a build only validates the batches it has not seen.
{{ config(materialized='incremental', incremental_strategy='append', meta={'high_water_mark': 'batch'},
          post_hook=["{{ lookup_index(['batch']) }}", "{{ lookup_index(['id', 'batch']) }}"]) }}

with records as (
    select * from {{ ref('stg_score_batches') }}
    where {{ after_high_water_mark('batch') }}
),

known_industries as (
    select industry from {{ ref('known_industries') }}
),

industry_candidates as (
    -- exact name, or a mangled name in which each `xxxx` stands for one letter. Two joins, not one on `= or like`:
    -- the exact match is a hash join, and only the few mangled names are compared with every known one (an `or`
    -- in the condition compared every record with every industry); the second skips the exact match, so each
    -- candidate comes once.
    select records.batch, records.record_index, known_industries.industry
    from records
    inner join known_industries on records.industry_normalized = known_industries.industry
    union all
    select records.batch, records.record_index, known_industries.industry
    from records
    inner join known_industries
        on records.industry_normalized like '%xxxx%'
        and known_industries.industry like {{ mangled_name_pattern('records.industry_normalized') }} {{ like_escape() }}
        and known_industries.industry <> records.industry_normalized
),

industry_matches as (
    select
        batch,
        record_index,
        count(*) as candidate_count,
        min(industry) as industry
    from industry_candidates
    group by batch, record_index
),

validated as (
    select
        records.batch,
        records.record_index,
        records.id,
        records.raw_score,
        records.raw_score_type,
        records.raw_industry,
        records.score,
        case when industry_matches.candidate_count = 1 then industry_matches.industry end as industry,
        coalesce(
            industry_matches.candidate_count = 1 and industry_matches.industry <> records.industry_normalized,
            false
        ) as is_industry_repaired,
        case
            when records.id is null or not {{ is_ulid('records.id') }} then 'invalid_id'
            when records.raw_score is null then 'missing_score'
            -- the score grammar: macros/numbers.sql
            when records.score_syntax is null then 'non_numeric_score'
            when records.score_syntax = 'non_finite' then 'non_finite_score'
            -- a numeral beyond the double range ('1e400') became +-infinity
            when not {{ is_finite('records.score') }} then 'out_of_range_score'
            when records.score = {{ var('score_sentinel') }} then 'sentinel_score'
            when records.industry_normalized is null or records.industry_normalized = '' then 'missing_industry'
            when industry_matches.candidate_count is null then 'unknown_industry'
            when industry_matches.candidate_count > 1 then 'ambiguous_industry'
        end as reject_reason,
        records.source_file,
        records.loaded_at
    from records
    left join industry_matches using (batch, record_index)
)

select * from validated
