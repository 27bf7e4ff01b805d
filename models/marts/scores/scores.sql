-- Each valid asset's latest percentile: the one from the most recent iteration whose window contained it
-- (an asset of batch b is last updated at iteration min(b + 2, last batch)).
{{ config(materialized='incremental', incremental_strategy='delete+insert', meta={'high_water_mark': 'updated_iteration'}, unique_key='id',
          post_hook=["{{ lookup_index(['id']) }}", "{{ lookup_index(['updated_iteration']) }}"]) }}

with history as (
    select * from {{ ref('percentile_history') }}
    where {{ after_high_water_mark('iteration', 'updated_iteration') }}
),

latest as (
    select
        *,
        row_number() over (partition by id order by iteration desc) as recency
    from history
),

final as (
    select
        id,
        score,
        industry,
        batch,
        percentile,
        normal_percentile,
        iteration as updated_iteration
    from latest
    where recency = 1
)

select * from final
