-- One row per iteration: how many rows `scores` holds once the iteration is done, i.e. how many assets any
-- batch up to the iteration has scored (the growth of the table, watched by the monitoring report).
-- Incremental: a new iteration adds the assets first seen since the last iteration to the last count.
{{ config(materialized='incremental', incremental_strategy='append', meta={'high_water_mark': 'iteration'}) }}

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

first_batches as (
    -- each asset first seen after the previous iteration, with the batch it was first seen in
    {% if is_incremental() %}
    -- the ids of the new batches, each with its first batch over the whole history: a correlated subquery per
    -- new id, not a join with the history, so it costs one lookup per new id (on Postgres one probe of
    -- int_score_records_validated's (id, batch) index; a join or `not exists` is planned there as a hash join
    -- over every earlier row, a cost that grows with history). int_scores_clean is named in each place, not
    -- through one CTE: Postgres materialises a CTE named twice, here the whole history.
    select id, first_batch
    from (
        select
            new_ids.id,
            (
                select min(earlier.batch)
                from {{ ref('int_scores_clean') }} as earlier
                where earlier.id = new_ids.id
            ) as first_batch
        from (
            select distinct id
            from {{ ref('int_scores_clean') }}
            -- the new batches: after the previous iteration, up to the newest one built now (both bounds: a range
            -- between two values known only when the query runs, Postgres estimates as narrow and reads through
            -- the (batch) index; a lower bound alone it estimates as a third of the table, and scans it all)
            where batch > (select iteration from previous_growth)
                and batch <= (select max(iteration) from new_iterations)
        ) as new_ids
    ) as seen
    where first_batch > (select iteration from previous_growth)
    {% else %}
    -- every asset: nothing was counted before
    select id, min(batch) as first_batch
    from {{ ref('int_scores_clean') }}
    group by id
    {% endif %}
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
