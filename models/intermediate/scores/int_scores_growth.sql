-- One row per iteration: how many rows `scores` holds once the iteration is done, i.e. how many assets any
-- batch up to the iteration has scored (the growth of the table, watched by the monitoring report).
-- Incremental: a new iteration adds the assets first seen since the last iteration to the last count.
{{ config(materialized='incremental', incremental_strategy='append') }}

with new_iterations as (
    select distinct iteration
    from {{ ref('int_score_windows') }}
    where {{ after_high_water_mark('iteration') }}
),

previous_growth as (
    -- where the table stands: scores_rows never decreases, so its max is the latest iteration's value
    {% if is_incremental() %}
    select coalesce(max(iteration), -1) as iteration, coalesce(max(scores_rows), 0) as scores_rows
    from {{ this }}
    {% else %}
    select -1 as iteration, cast(0 as bigint) as scores_rows
    {% endif %}
),

clean_scores as (
    select id, batch from {{ ref('int_scores_clean') }}
),

first_batches as (
    -- assets first seen after the previous iteration: ids of the new batches that no earlier batch had
    select recent.id, min(recent.batch) as first_batch
    from clean_scores as recent
    where recent.batch > (select iteration from previous_growth)
        and not exists (
            select 1
            from clean_scores as earlier
            where earlier.id = recent.id
                and earlier.batch <= (select iteration from previous_growth)
        )
    group by recent.id
),

new_assets_by_first_batch as (
    select first_batch, count(*) as assets
    from first_batches
    group by first_batch
),

growth as (
    select
        new_iterations.iteration,
        cast(
            (select scores_rows from previous_growth) + coalesce(sum(new_assets_by_first_batch.assets), 0)
            as bigint
        ) as scores_rows
    from new_iterations
    left join new_assets_by_first_batch
        on new_assets_by_first_batch.first_batch <= new_iterations.iteration
    group by new_iterations.iteration
)

select * from growth
