-- Every iteration's window: for iteration i (run when batch i lands), each valid asset of batches i-2..i with
-- its latest score in the window. Cold start: no iteration until 3 batches exist. Incremental: a new batch
-- appends only its own iteration's window; past windows are never rewritten.
{{ config(materialized='incremental', incremental_strategy='append', post_hook="{{ lookup_index(['iteration']) }}") }}

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

window_records as (
    select
        iterations.iteration,
        clean_scores.id,
        clean_scores.batch,
        clean_scores.industry,
        clean_scores.score
    from iterations
    inner join clean_scores
        on clean_scores.batch between iterations.iteration - {{ window_batches - 1 }} and iterations.iteration
    -- lets the scan skip history older than the oldest window being built
    where clean_scores.batch >= (select min(iteration) from iterations) - {{ window_batches - 1 }}
),

numbered as (
    select
        *,
        row_number() over (partition by iteration, id order by batch desc) as recency
    from window_records
),

latest_in_window as (
    -- an asset scored again within a window counts once, with its latest score
    select iteration, id, batch, industry, score
    from numbered
    where recency = 1
)

select * from latest_in_window
