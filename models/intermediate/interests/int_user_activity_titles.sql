-- One row per (user, consumed title): the titles the interest model reads. DuckDB-specific by design
-- (string_split + unnest); on Postgres this is string_to_table, on Spark explode(split(...)).
with activity as (
    select * from {{ ref('stg_user_activity') }}
),

split as (
    select
        user_handle,
        unnest(string_split(content_titles_joined, '{{ var("activity_title_separator") }}')) as title
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
