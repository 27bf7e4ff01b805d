-- Per iteration and industry: the window's distribution (n, mean, spread, quantiles), its drift against the
-- previous iteration's window and against the first window (mean shift and two-sample Kolmogorov-Smirnov
-- statistic), and how many rows `scores` holds after the iteration, so drift and table growth can be watched.
-- Incremental: a new iteration appends its own rows. It reads back only the windows it needs from
-- percentile_history (its own, the previous and the first), never the whole history, so the cost of a new
-- batch does not grow with the number of batches already loaded.
{{ config(materialized='incremental', incremental_strategy='append') }}

with new_iterations as (
    select distinct iteration
    from {{ ref('percentile_history') }}
    {% if is_incremental() %}
    where iteration > (select coalesce(max(iteration), -1) from {{ this }})
    {% endif %}
),

first_iteration as (
    select min(iteration) as iteration from {{ ref('percentile_history') }}
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
    select history.iteration, history.industry, history.score, history.window_mean, history.window_stddev
    from {{ ref('percentile_history') }} as history
    inner join needed_iterations on needed_iterations.iteration = history.iteration
),

window_means as (
    -- mean and stddev come from percentile_history (computed once, deterministically, per window)
    select iteration, industry, min(window_mean) as mean
    from needed_scores
    group by iteration, industry
),

distribution as (
    select
        iteration,
        industry,
        count(*) as n,
        min(window_mean) as mean,
        min(window_stddev) as stddev,
        min(score) as min,
        percentile_cont(0.05) within group (order by score) as p05,
        percentile_cont(0.25) within group (order by score) as p25,
        percentile_cont(0.50) within group (order by score) as p50,
        percentile_cont(0.75) within group (order by score) as p75,
        percentile_cont(0.95) within group (order by score) as p95,
        max(score) as max
    from needed_scores
    where iteration in (select iteration from new_iterations)
    group by iteration, industry
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
        max(abs(
            1.0 * current_at_or_below / nullif(current_n, 0) - 1.0 * baseline_at_or_below / nullif(baseline_n, 0)
        )) as ks_statistic
    from empirical_cdfs
    group by iteration, baseline, industry
),

drift as (
    select
        comparisons.iteration,
        comparisons.baseline,
        current_means.industry,
        current_means.mean - baseline_means.mean as mean_shift,
        ks_statistics.ks_statistic
    from comparisons
    inner join window_means as current_means
        on current_means.iteration = comparisons.iteration
    inner join window_means as baseline_means
        on baseline_means.iteration = comparisons.baseline_iteration
        and baseline_means.industry = current_means.industry
    inner join ks_statistics
        on ks_statistics.iteration = comparisons.iteration
        and ks_statistics.baseline = comparisons.baseline
        and ks_statistics.industry = current_means.industry
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

new_assets_by_first_batch as (
    -- assets first seen after the previous iteration: ids of the new batches that no earlier batch had
    select first_batch, count(*) as assets
    from (
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
    ) as first_batches
    group by first_batch
),

scores_growth as (
    -- `scores` holds one row per asset seen in any batch up to the iteration
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
),

final as (
    select
        distribution.iteration,
        distribution.industry,
        distribution.n,
        distribution.mean,
        distribution.stddev,
        distribution.min,
        distribution.p05,
        distribution.p25,
        distribution.p50,
        distribution.p75,
        distribution.p95,
        distribution.max,
        vs_previous.mean_shift as mean_shift_vs_previous,
        vs_previous.ks_statistic as ks_vs_previous,
        vs_first.mean_shift as mean_shift_vs_first,
        vs_first.ks_statistic as ks_vs_first,
        scores_growth.scores_rows
    from distribution
    left join drift as vs_previous
        on vs_previous.iteration = distribution.iteration
        and vs_previous.industry = distribution.industry
        and vs_previous.baseline = 'previous'
    left join drift as vs_first
        on vs_first.iteration = distribution.iteration
        and vs_first.industry = distribution.industry
        and vs_first.baseline = 'first'
    inner join scores_growth
        on scores_growth.iteration = distribution.iteration
)

select * from final
