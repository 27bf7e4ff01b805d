-- The interest catalogue, when DATA_DIR has one.
with source as (
    select * from {{ source('raw', 'interests') }}
),

renamed as (
    select
        interest_id,
        trim(label) as label,
        loaded_at
    from source
)

select * from renamed
