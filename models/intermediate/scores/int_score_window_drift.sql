-- One row per (iteration, industry, baseline): how far the industry's window drifted from a baseline window,
-- the previous iteration's ('previous') or the first one ('first'): the mean shift and the two-sample
-- Kolmogorov-Smirnov statistic sup|F_now - F_baseline|. Incremental: a new iteration reads back only the
-- windows it is compared with (its own, the previous, the first), never the whole history, so the cost of a
-- new batch does not grow with the number of batches already loaded.
{{ config(materialized='incremental', incremental_strategy='append') }}

with statistics as (
    select iteration, industry, mean from {{ ref('int_score_window_statistics') }}
),

new_iterations as (
    select distinct iteration
    from statistics
    where {{ after_high_water_mark('iteration') }}
),

first_iteration as (
    select min(iteration) as iteration from statistics
),

comparisons as (
    select
        new_iterations.iteration,
        new_iterations.iteration - 1 as baseline_iteration,
        'previous' as baseline
    from new_iterations
    where new_iterations.iteration > (select iteration from first_iteration)
    union all
    select
        new_iterations.iteration,
        first_iteration.iteration as baseline_iteration,
        'first' as baseline
    from new_iterations
    cross join first_iteration
),

needed_iterations as (
    select iteration from new_iterations
    union
    select baseline_iteration as iteration from comparisons
),

needed_scores as (
    select windows.iteration, windows.industry, windows.score
    from {{ ref('int_score_windows') }} as windows
    inner join needed_iterations on needed_iterations.iteration = windows.iteration
),

ks_samples as (
    select comparisons.iteration, comparisons.baseline, scores.industry, scores.score, 1 as is_current
    from comparisons
    inner join needed_scores as scores on scores.iteration = comparisons.iteration
    union all
    select comparisons.iteration, comparisons.baseline, scores.industry, scores.score, 0 as is_current
    from comparisons
    inner join needed_scores as scores on scores.iteration = comparisons.baseline_iteration
),

empirical_cdfs as (
    -- at each observed score: how many scores of each sample are <= it (peers included by the range frame)
    select
        iteration,
        baseline,
        industry,
        sum(is_current) over (
            partition by iteration, baseline, industry order by score
            range between unbounded preceding and current row
        ) as current_at_or_below,
        sum(1 - is_current) over (
            partition by iteration, baseline, industry order by score
            range between unbounded preceding and current row
        ) as baseline_at_or_below,
        sum(is_current) over (partition by iteration, baseline, industry) as current_n,
        sum(1 - is_current) over (partition by iteration, baseline, industry) as baseline_n
    from ks_samples
),

ks_statistics as (
    select
        iteration,
        baseline,
        industry,
        -- double division on every engine (1.0 * bigint would be an exact numeric on Postgres)
        max(abs(
            cast(current_at_or_below as {{ type_double() }}) / nullif(current_n, 0)
            - cast(baseline_at_or_below as {{ type_double() }}) / nullif(baseline_n, 0)
        )) as ks_statistic
    from empirical_cdfs
    group by iteration, baseline, industry
),

drift as (
    select
        comparisons.iteration,
        current_window.industry,
        comparisons.baseline,
        {{ double_difference('current_window.mean', 'baseline_window.mean') }} as mean_shift,
        ks_statistics.ks_statistic
    from comparisons
    inner join statistics as current_window
        on current_window.iteration = comparisons.iteration
    inner join statistics as baseline_window
        on baseline_window.iteration = comparisons.baseline_iteration
        and baseline_window.industry = current_window.industry
    inner join ks_statistics
        on ks_statistics.iteration = comparisons.iteration
        and ks_statistics.baseline = comparisons.baseline
        and ks_statistics.industry = current_window.industry
)

select * from drift
