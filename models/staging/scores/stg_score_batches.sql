-- One row per raw score record, renamed and typed. Nothing is filtered here: validation happens downstream
-- so that every raw row can be accounted for as clean or rejected.
with source as (
    select * from {{ source('raw', 'score_batches') }}
),

renamed as (
    select
        batch,
        record_index,
        id,
        score as raw_score,
        score_json_type as raw_score_type,
        industry as raw_industry,
        -- the score grammar (macros/numbers.sql) decides what is a number, the same on every engine; JSON
        -- booleans, objects and arrays are not numbers whatever their text
        case when score_json_type in ('number', 'string') then {{ number_syntax('score') }} end as score_syntax,
        lower(trim(industry)) as industry_normalized,
        source_file,
        content_hash,
        loaded_at
    from source
),

parsed as (
    select
        batch,
        record_index,
        id,
        raw_score,
        raw_score_type,
        raw_industry,
        score_syntax,
        {{ parse_number('raw_score', 'score_syntax') }} as score,
        industry_normalized,
        source_file,
        content_hash,
        loaded_at
    from renamed
)

select * from parsed
