-- One row per (iteration, industry): the window's distribution (size, mean, sample standard deviation,
-- quantiles), computed once at the window's own grain. percentile_history reads the mean and the standard
-- deviation from here for its normal percentiles, industry_distribution_history reads all of it.
-- Incremental: a new iteration appends its own windows.
{{ config(materialized='incremental', incremental_strategy='append') }}

with windows as (
    select * from {{ ref('int_score_windows') }}
    where {{ after_high_water_mark('iteration') }}
),

statistics as (
    select
        iteration,
        industry,
        count(*) as n,
        -- the explicit order makes the floating-point sums deterministic: a batch-by-batch build and an
        -- all-at-once build must give bit-identical marts, whatever order the join produced rows in
        {{ ordered_avg('score', ['score', 'id']) }} as mean,
        {{ ordered_stddev_samp('score', ['score', 'id']) }} as stddev,
        min(score) as min,
        percentile_cont(0.05) within group (order by score) as p05,
        percentile_cont(0.25) within group (order by score) as p25,
        percentile_cont(0.50) within group (order by score) as p50,
        percentile_cont(0.75) within group (order by score) as p75,
        percentile_cont(0.95) within group (order by score) as p95,
        max(score) as max
    from windows
    group by iteration, industry
)

select * from statistics
