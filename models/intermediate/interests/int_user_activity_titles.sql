-- One row per (user, consumed title): the titles the interest model reads (the split is the split_to_rows
-- macro: string_split + unnest on DuckDB, string_to_array + unnest on Postgres).
with activity as (
    select * from {{ ref('stg_user_activity') }}
),

split as (
    select
        user_handle,
        {{ split_to_rows('content_titles_joined', var("activity_title_separator")) }} as title
    from activity
),

final as (
    select
        user_handle,
        trim(title) as title
    from split
    where trim(title) <> ''
)

select * from final
