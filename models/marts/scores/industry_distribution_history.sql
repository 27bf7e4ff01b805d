-- Per iteration and industry: the window's distribution (n, mean, spread, quantiles), its drift against the
-- previous iteration's window and against the first window (mean shift and two-sample Kolmogorov-Smirnov
-- statistic), and how many rows `scores` holds after the iteration, so drift and table growth can be watched.
-- Each part is computed in its own model (int_score_window_statistics, int_score_window_drift,
-- int_scores_growth); this mart puts them side by side. Incremental: a new iteration appends its own rows.
{{ config(materialized='incremental', incremental_strategy='append', meta={'high_water_mark': 'iteration'}) }}

with statistics as (
    select * from {{ ref('int_score_window_statistics') }}
    where {{ after_high_water_mark('iteration') }}
),

drift as (
    select * from {{ ref('int_score_window_drift') }}
    where {{ after_high_water_mark('iteration') }}
),

growth as (
    select * from {{ ref('int_scores_growth') }}
    where {{ after_high_water_mark('iteration') }}
),

final as (
    select
        statistics.iteration,
        statistics.industry,
        statistics.n,
        statistics.mean,
        statistics.stddev,
        statistics.min,
        statistics.p05,
        statistics.p25,
        statistics.p50,
        statistics.p75,
        statistics.p95,
        statistics.max,
        vs_previous.mean_shift as mean_shift_vs_previous,
        vs_previous.ks_statistic as ks_vs_previous,
        vs_first.mean_shift as mean_shift_vs_first,
        vs_first.ks_statistic as ks_vs_first,
        growth.scores_rows
    from statistics
    left join drift as vs_previous
        on vs_previous.iteration = statistics.iteration
        and vs_previous.industry = statistics.industry
        and vs_previous.baseline = 'previous'
    left join drift as vs_first
        on vs_first.iteration = statistics.iteration
        and vs_first.industry = statistics.industry
        and vs_first.baseline = 'first'
    inner join growth
        on growth.iteration = statistics.iteration
)

select * from final
