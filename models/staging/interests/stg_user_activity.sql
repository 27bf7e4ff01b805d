-- One row per user with activity, renamed; titles stay joined here (split in int_user_activity_titles).
with source as (
    select * from {{ source('raw', 'user_activity') }}
),

renamed as (
    select
        user_handle,
        upper(trim(user_type)) as user_type,
        content_titles_joined,
        user_interests as interest_ids_json,
        loaded_at
    from source
)

select * from renamed
