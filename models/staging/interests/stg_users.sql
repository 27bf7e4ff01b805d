-- The user population: one row per user, type normalised (trimmed, upper-cased).
with source as (
    select * from {{ source('raw', 'users') }}
),

renamed as (
    select
        user_handle,
        trim(name) as name,
        upper(trim(user_type)) as user_type,
        loaded_at
    from source
)

select * from renamed
