{#- Exact, order-independent sums of doubles, so a statistic does not depend on the order rows arrive in (a
    window built batch by batch and the same window rebuilt with all the others agree to the bit) and needs no
    sort. `exact_sum` is the algorithm, the one macro models call; the macros after it are its steps, dispatched
    where the engines differ. Each value is split into a power of two (`exact_sum_exponent`) and an integer
    (`exact_sum_mantissa`, |m| < 2^55: x = m * 2^(e - 53) exactly, whatever ln's last-bit error in e); the
    integers of one exponent are summed exactly (in 128 bits or more: 2^73 values before a sum could overflow),
    and the few per-exponent totals are added as doubles in exponent order (`exact_sum_total`, an aggregate over
    those sums). Values below 2^-960 are clamped to that exponent (their power of two would overflow): rounded,
    still order-independent. -#}

{#- The exact sum of `value` (a double column or expression of `relation`) per group of `group_by` (a list of
    column names): a select, the body of the caller's CTE, with one row per group, its columns, `sum_as` (the
    exact sum) and, when `count_as` is given, the number of values summed. Its own CTEs are named after
    `sum_as`, so one query can hold several exact sums. -#}
{% macro exact_sum(relation, value, group_by, sum_as, count_as=none) -%}
    {%- set groups = group_by | join(', ') -%}
    with {{ sum_as }}_terms as (
        select
            {{ groups }},
            {{ exact_sum_exponent(value) }} as exponent,
            {{ value }} as term
        from {{ relation }}
    ),

    {{ sum_as }}_by_exponent as (
        select
            {{ groups }},
            exponent,
            {%- if count_as %}
            count(*) as term_count,
            {%- endif %}
            sum({{ exact_sum_mantissa('term', 'exponent') }}) as mantissa_sum
        from {{ sum_as }}_terms
        group by {{ groups }}, exponent
    )

    select
        {{ groups }},
        {%- if count_as %}
        cast(sum(term_count) as bigint) as {{ count_as }},
        {%- endif %}
        {{ exact_sum_total('mantissa_sum', 'exponent') }} as {{ sum_as }}
    from {{ sum_as }}_by_exponent
    group by {{ groups }}
{%- endmacro %}

{% macro exact_sum_exponent(value) -%}
    case when {{ value }} = 0 then 0
         else greatest(cast(floor(ln(abs({{ value }})) / ln(2)) as integer), -960) end
{%- endmacro %}
{% macro exact_sum_mantissa(value, exponent) %}{{ return(adapter.dispatch('exact_sum_mantissa')(value, exponent)) }}{% endmacro %}
{#- DuckDB sums bigints into a 128-bit integer and Postgres into numeric; Spark's sum of bigints would wrap -#}
{% macro default__exact_sum_mantissa(value, exponent) -%}
    cast({{ value }} * power(cast(2 as {{ type_double() }}), 53 - {{ exponent }}) as bigint)
{%- endmacro %}
{% macro spark__exact_sum_mantissa(value, exponent) -%}
    cast({{ default__exact_sum_mantissa(value, exponent) }} as decimal(38, 0))
{%- endmacro %}
{% macro exact_sum_total(mantissa_sum, exponent) %}{{ return(adapter.dispatch('exact_sum_total')(mantissa_sum, exponent)) }}{% endmacro %}
{% macro default__exact_sum_total(mantissa_sum, exponent) -%}
    {{ ordered_sum('cast(' ~ mantissa_sum ~ ' as ' ~ type_double() ~ ') * power(cast(2 as ' ~ type_double() ~ '), '
                   ~ exponent ~ ' - 53)', [exponent]) }}
{%- endmacro %}
{#- Postgres raises "value out of range: overflow" where IEEE arithmetic gives infinity (two scores near the largest
    double, the squares of deviations beyond 1.3e154): its mantissa sums are already exact numerics, so the total
    is summed exactly in numeric and rounded once, to +-infinity beyond the double range as on the other engines. -#}
{% macro postgres__exact_sum_total(mantissa_sum, exponent) -%}
    {#- 2^(exponent - 53) as an exact numeric: numeric's power() rounds negative powers to a few digits, but
        2^-k = 5^k * 10^-k is exact -#}
    {%- set scale -%}
        case when {{ exponent }} >= 53 then power(cast(2 as numeric), {{ exponent }} - 53)
             else power(cast(5 as numeric), 53 - {{ exponent }}) * cast('1e' || ({{ exponent }} - 53) as numeric) end
    {%- endset -%}
    {%- set total = "sum(" ~ mantissa_sum ~ " * " ~ scale ~ ")" -%}
    case
        when abs({{ total }}) >= 1.7976931348623158079372897140530341507993e308  -- 2^1024 - 2^970: rounds to infinity
            then sign({{ total }}) * cast('infinity' as double precision)
        else cast({{ total }} as double precision)
    end
{%- endmacro %}
