-- One row per (iteration, industry): the window's distribution (size, mean, sample standard deviation,
-- quantiles), computed once at the window's own grain. percentile_history reads the mean and the standard
-- deviation from here for its normal percentiles, industry_distribution_history reads all of it.
-- Incremental: a new iteration appends its own windows.
-- The mean and the spread are exact sums (macros/exact_sums.sql, exact_sum): they do not depend on the order
-- the rows arrive in, so a batch-by-batch build and an all-at-once build give bit-identical marts without
-- sorting any window; the spread is two-pass (squared deviations from the mean, summed exactly), accurate
-- whatever the scores' scale and spread.
{{ config(materialized='incremental', incremental_strategy='append', meta={'high_water_mark': 'iteration'}) }}

with windows as (
    select * from {{ ref('int_score_windows') }}
    where {{ after_high_water_mark('iteration') }}
),

score_sums as (
    {{ exact_sum('windows', 'score', ['iteration', 'industry'], sum_as='score_sum', count_as='n') }}
),

means as (
    select
        iteration,
        industry,
        n,
        score_sum / n as mean
    from score_sums
),

deviations as (
    select
        windows.iteration,
        windows.industry,
        {{ double_difference('windows.score', 'means.mean') }} as deviation
    from windows
    inner join means using (iteration, industry)
),

squared_deviations as (
    select
        iteration,
        industry,
        -- a square beyond the largest double (a deviation of 2^512, 1.3e154, or more) counts as the largest one:
        -- its sum then overflows to infinity as the true sum would, instead of an infinity the exact sum cannot
        -- split; the square is never computed there (Postgres raises on an overflowing product)
        case
            when abs(deviation) < power(cast(2 as {{ type_double() }}), 512) then deviation * deviation
            else {{ largest_double() }}
        end as squared_deviation
    from deviations
),

spreads as (
    {{ exact_sum('squared_deviations', 'squared_deviation', ['iteration', 'industry'],
                 sum_as='sum_of_squared_deviations') }}
),

quantiles as (
    select
        iteration,
        industry,
        min(score) as min,
        {%- set fractions = [0.05, 0.25, 0.50, 0.75, 0.95] %}
        {{ quantile_of('score', 0.05, fractions) }} as p05,
        {{ quantile_of('score', 0.25, fractions) }} as p25,
        {{ quantile_of('score', 0.50, fractions) }} as p50,
        {{ quantile_of('score', 0.75, fractions) }} as p75,
        {{ quantile_of('score', 0.95, fractions) }} as p95,
        max(score) as max
    from windows
    group by iteration, industry
),

statistics as (
    select
        means.iteration,
        means.industry,
        means.n,
        means.mean,
        -- sample standard deviation; none for a single score
        case when means.n > 1 then sqrt(spreads.sum_of_squared_deviations / (means.n - 1)) end as stddev,
        quantiles.min,
        quantiles.p05,
        quantiles.p25,
        quantiles.p50,
        quantiles.p75,
        quantiles.p95,
        quantiles.max
    from means
    inner join spreads using (iteration, industry)
    inner join quantiles using (iteration, industry)
)

select * from statistics
