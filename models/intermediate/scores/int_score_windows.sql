-- Every iteration's window: for iteration i (run when batch i lands), each valid asset of batches i-2..i with
-- its latest score in the window. Cold start: no iteration until 3 batches exist. Incremental: a new batch
-- appends only its own iteration's window; past windows are never rewritten.
-- Each score is fanned out to the (at most 3) iterations whose window holds it, and leaves them from the batch
-- that scores its asset again: equi-joins and one pass over the scores, where a range join of iterations to
-- batches and a per-window dedupe had cost ten times as much on a full rebuild.
{{ config(materialized='incremental', incremental_strategy='append', meta={'high_water_mark': 'iteration'}, post_hook="{{ lookup_index(['iteration']) }}") }}

{%- set window_batches = var('percentile_window_batches') %}

with clean_scores as (
    select * from {{ ref('int_scores_clean') }}
),

landed_batches as (
    select distinct batch from {{ ref('int_score_records_validated') }}
),

iterations as (
    select batch as iteration
    from landed_batches
    where batch >= (select min(batch) from landed_batches) + {{ window_batches - 1 }}
        and {{ after_high_water_mark('batch', 'iteration') }}
),

scores_in_scope as (
    select id, batch, record_index, industry, score
    from clean_scores
    -- lets the scan skip history older than the oldest window being built
    where batch >= (select min(iteration) from iterations) - {{ window_batches - 1 }}
),

rescored as (
    -- where the asset is scored next (a later batch, or a later record of the same batch), if anywhere: from
    -- that batch on, this score is no longer the asset's latest
    select
        *,
        lead(batch) over (partition by id order by batch, record_index) as next_scored_batch
    from scores_in_scope
),

window_offsets as (
    -- a score of batch b belongs to the windows of iterations b .. b + {{ window_batches - 1 }}
    {% for offset in range(window_batches) -%}
    select {{ offset }} as batches_after {%- if not loop.last %} union all {% endif %}
    {% endfor %}
),

window_records as (
    select
        iterations.iteration,
        rescored.id,
        rescored.batch,
        rescored.industry,
        rescored.score
    from rescored
    cross join window_offsets
    inner join iterations
        on iterations.iteration = rescored.batch + window_offsets.batches_after
    -- an asset scored again within a window counts once, with its latest score
    where rescored.next_scored_batch is null or rescored.next_scored_batch > iterations.iteration
)

select * from window_records
