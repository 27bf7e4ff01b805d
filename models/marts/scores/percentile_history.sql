-- Every iteration's percentiles: for iteration i (run when batch i lands), each valid asset of the window of
-- batches i-2..i (int_score_windows) ranked within its industry's window distribution. Cold start: no
-- iteration until 3 batches exist. Incremental: a new batch appends only its own iteration's rows; past
-- iterations are never rewritten.
{{ config(materialized='incremental', incremental_strategy='append', meta={'high_water_mark': 'iteration'}, post_hook="{{ lookup_index(['iteration']) }}") }}

with windows as (
    select * from {{ ref('int_score_windows') }}
    where {{ after_high_water_mark('iteration') }}
),

statistics as (
    select iteration, industry, mean, stddev from {{ ref('int_score_window_statistics') }}
),

standardized as (
    select
        windows.*,
        statistics.mean as window_mean,
        statistics.stddev as window_stddev,
        case when statistics.stddev > 0 then {{ double_difference('windows.score', 'statistics.mean') }} / statistics.stddev end as z_score
    from windows
    inner join statistics using (iteration, industry)
),

with_z_magnitude as (
    select *, abs(z_score) as z_magnitude from standardized
),

final as (
    select
        iteration,
        id,
        batch,
        industry,
        score,
        -- share of the industry's window scores <= this score (ties count fully), in percent
        100.0 * cume_dist() over (partition by iteration, industry order by score) as percentile,
        -- the industries are known to be normal: the same rank read off the fitted normal distribution
        100.0 * {{ normal_cdf('z_score', 'z_magnitude') }} as normal_percentile,
        window_mean,
        window_stddev
    from with_z_magnitude
)

select * from final
