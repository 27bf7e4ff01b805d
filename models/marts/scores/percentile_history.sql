-- Every iteration's percentiles: for iteration i (run when batch i lands), each valid asset of batches i-2..i
-- ranked within its industry's window distribution. Cold start: no iteration until 3 batches exist.
-- Incremental: a new batch appends only its own iteration's rows; past iterations are never rewritten.
{{ config(materialized='incremental', incremental_strategy='append') }}

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
    {% if is_incremental() %}
        and batch > (select coalesce(max(iteration), -1) from {{ this }})
    {% endif %}
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

window_scores as (
    -- an asset scored again within a window counts once, with its latest score
    select *
    from (
        select
            window_records.*,
            row_number() over (partition by iteration, id order by batch desc) as recency
        from window_records
    ) as numbered
    where recency = 1
),

ranked as (
    select
        iteration,
        id,
        batch,
        industry,
        score,
        -- share of the industry's window scores <= this score (ties count fully), in percent
        100.0 * cume_dist() over (partition by iteration, industry order by score) as percentile,
        -- the explicit order makes the floating-point sums deterministic: a batch-by-batch build and an
        -- all-at-once build must give bit-identical marts, whatever order the join produced rows in
        avg(score) over whole_window as window_mean,
        stddev_samp(score) over whole_window as window_stddev
    from window_scores
    window whole_window as (
        partition by iteration, industry order by score, id rows between unbounded preceding and unbounded following
    )
),

standardized as (
    select
        *,
        case when window_stddev > 0 then (score - window_mean) / window_stddev end as z_score
    from ranked
),

final as (
    select
        iteration,
        id,
        batch,
        industry,
        score,
        percentile,
        -- the industries are known to be normal: the same rank read off the fitted normal distribution
        100.0 * {{ normal_cdf('z_score') }} as normal_percentile,
        window_mean,
        window_stddev
    from standardized
)

select * from final
