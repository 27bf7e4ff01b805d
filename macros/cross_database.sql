{#- Cross-database helpers: the few spots where SQL dialects differ, behind adapter.dispatch so the models read
    the same on DuckDB (the default adapter), Postgres and Spark. Vectors are in vectors.sql, exact sums in
    exact_sums.sql, overrides of the adapters' own macros in adapter_overrides.sql. -#}

{% macro type_double() %}{{ return(adapter.dispatch('type_double')()) }}{% endmacro %}
{% macro default__type_double() %}double precision{% endmacro %}
{% macro spark__type_double() %}double{% endmacro %}

{#- true when the whole string matches the regular expression -#}
{% macro regex_full_match(expression, pattern) %}{{ return(adapter.dispatch('regex_full_match')(expression, pattern)) }}{% endmacro %}
{% macro default__regex_full_match(expression, pattern) %}({{ expression }} ~ '^(?:{{ pattern }})$'){% endmacro %}
{% macro duckdb__regex_full_match(expression, pattern) %}regexp_full_match({{ expression }}, '{{ pattern }}'){% endmacro %}
{#- Spark reads backslash escapes in string literals ('\s' is 's'): the pattern's backslashes are doubled. Java's `$`
    also matches before a final line break ('1\n' would pass): the match ends at `\z`, the very end, as elsewhere. -#}
{% macro spark__regex_full_match(expression, pattern) %}({{ expression }} rlike '^(?:{{ pattern | replace("\\", "\\\\") }})\\z'){% endmacro %}

{#- one row per piece of a string cut at a literal separator (a set-returning select expression) -#}
{% macro split_to_rows(expression, separator) %}{{ return(adapter.dispatch('split_to_rows')(expression, separator)) }}{% endmacro %}
{% macro default__split_to_rows(expression, separator) %}unnest(string_to_array({{ expression }}, '{{ separator }}')){% endmacro %}
{% macro duckdb__split_to_rows(expression, separator) %}unnest(string_split({{ expression }}, '{{ separator }}')){% endmacro %}
{#- Spark's split takes a regular expression: the separator is quoted (\\Q..\\E in a Spark literal) -#}
{% macro spark__split_to_rows(expression, separator) %}explode(split({{ expression }}, '\\Q{{ separator }}\\E')){% endmacro %}

{#- the group's values where `condition` holds, as a list sorted by value (distinct ones only when asked); a group
    with none gives null on DuckDB and Postgres, [] on Spark (callers coalesce_array it) -#}
{% macro sorted_array_agg(value, condition, distinct=false) %}{{ return(adapter.dispatch('sorted_array_agg')(value, condition, distinct)) }}{% endmacro %}
{% macro default__sorted_array_agg(value, condition, distinct) -%}
    array_agg({{ 'distinct ' if distinct }}{{ value }} order by {{ value }}) filter (where {{ condition }})
{%- endmacro %}
{% macro spark__sorted_array_agg(value, condition, distinct) -%}
    array_sort({{ 'collect_set' if distinct else 'collect_list' }}({{ value }}) filter (where {{ condition }}))
{%- endmacro %}

{#- one row per element of a list column (a set-returning select expression; a null or empty list gives none) -#}
{% macro list_to_rows(expression) %}{{ return(adapter.dispatch('list_to_rows')(expression)) }}{% endmacro %}
{% macro default__list_to_rows(expression) %}unnest({{ expression }}){% endmacro %}
{% macro spark__list_to_rows(expression) %}explode({{ expression }}){% endmacro %}

{#- an array column, empty instead of null, typed `element_type`[] -#}
{% macro coalesce_array(expression, element_type) %}{{ return(adapter.dispatch('coalesce_array')(expression, element_type)) }}{% endmacro %}
{% macro default__coalesce_array(expression, element_type) %}coalesce({{ expression }}, cast(array[] as {{ element_type }}[])){% endmacro %}
{% macro duckdb__coalesce_array(expression, element_type) %}cast(coalesce({{ expression }}, []) as {{ element_type }}[]){% endmacro %}
{% macro spark__coalesce_array(expression, element_type) -%}
    {%- set spark_element = {'varchar': 'string', 'integer': 'int', 'double precision': 'double'}.get(element_type | lower, element_type) -%}
    coalesce({{ expression }}, cast(array() as array<{{ spark_element }}>))
{%- endmacro %}

{#- number of elements of an array (list) -#}
{% macro array_size(expression) %}{{ return(adapter.dispatch('array_size')(expression)) }}{% endmacro %}
{% macro default__array_size(expression) %}cardinality({{ expression }}){% endmacro %}
{% macro duckdb__array_size(expression) %}len({{ expression }}){% endmacro %}
{% macro spark__array_size(expression) %}size({{ expression }}){% endmacro %}

{#- a - b for doubles, +-infinity when the difference overflows, as IEEE arithmetic (DuckDB, Spark) gives it.
    Postgres raises on an overflowing difference (two scores of opposite signs near the largest double) and on an
    underflowing product or quotient: there, only when the difference could overflow (opposite signs, one operand
    2^1022 or more, neither below 1) is it taken on halves (exact for such numbers) and doubled, or +-infinity when
    even the half is beyond the double range. -#}
{% macro double_difference(a, b) %}{{ return(adapter.dispatch('double_difference')(a, b)) }}{% endmacro %}
{% macro default__double_difference(a, b) %}({{ a }} - {{ b }}){% endmacro %}
{% macro postgres__double_difference(a, b) -%}
    {%- set half = "(" ~ a ~ " / cast(2 as double precision) - " ~ b ~ " / cast(2 as double precision))" -%}
    {%- set limit = "power(cast(2 as double precision), 1022)" -%}
    (case
        when sign({{ a }}) = sign({{ b }}) or (abs({{ a }}) < {{ limit }} and abs({{ b }}) < {{ limit }})
             or abs({{ a }}) < 1 or abs({{ b }}) < 1
            then {{ a }} - {{ b }}
        when abs({{ half }}) < power(cast(2 as double precision), 1023) then cast(2 as double precision) * {{ half }}
        else {{ half }} * cast('infinity' as double precision)
    end)
{%- endmacro %}

{#- The continuous quantile `fraction` of `value` in its group (percentile_cont), one of several (`fractions`, all
    of them, `fraction` among them) taken of the same value in the same query. DuckDB computes them all in one
    aggregate, one sort of each group where one percentile_cont per fraction sorts it once each: every
    quantile names the same list aggregate, which DuckDB computes once, and takes its element. -#}
{% macro quantile_of(value, fraction, fractions) %}{{ return(adapter.dispatch('quantile_of')(value, fraction, fractions)) }}{% endmacro %}
{% macro default__quantile_of(value, fraction, fractions) %}percentile_cont({{ fraction }}) within group (order by {{ value }}){% endmacro %}
{% macro duckdb__quantile_of(value, fraction, fractions) -%}
    quantile_cont({{ value }}, [{{ fractions | join(', ') }}])[{{ fractions.index(fraction) + 1 }}]
{%- endmacro %}

{#- sum(value) taken in a fixed order (`order_by`: a list of columns). DuckDB and Postgres accept
    `sum(x order by ...)`; Spark does not: the values are collected, sorted and folded left to right. -#}
{% macro ordered_sum(value, order_by) %}{{ return(adapter.dispatch('ordered_sum')(value, order_by)) }}{% endmacro %}
{% macro default__ordered_sum(value, order_by) %}sum({{ value }} order by {{ order_by | join(', ') }}){% endmacro %}
{% macro spark__ordered_sum(value, order_by) -%}
    aggregate(
        transform(
            array_sort(collect_list(named_struct({% for column in order_by %}'k{{ loop.index }}', {{ column }}, {% endfor %}'v', cast({{ value }} as double)))),
            x -> x.v
        ),
        cast(0 as double),
        (total, v) -> total + v
    )
{%- endmacro %}

{#- LIKE pattern for a mangled industry name (see macros/scores.sql) and the LIKE escape clause that goes with
    it: a backslash escapes. Spark reads a backslash in a string literal as an escape itself ('\' does not even
    end the literal), so its literals double every backslash. -#}
{% macro like_escape() %}{{ return(adapter.dispatch('like_escape')()) }}{% endmacro %}
{% macro default__like_escape() %}escape '\'{% endmacro %}
{% macro spark__like_escape() %}escape '\\'{% endmacro %}

{#- post-hook: a b-tree index for the lookups an incremental build makes on a table that grows with history (its
    high-water mark `max(iteration)`, the rows of one batch, an asset's earlier rows). Postgres scans a whole table
    without one, so one new batch would cost more as history grows (measured: docs/benchmarks.md); DuckDB's
    per-segment min/max already skips old row groups and an index would slow its appends: nothing there. -#}
{% macro lookup_index(columns) %}{{ return(adapter.dispatch('lookup_index')(columns)) }}{% endmacro %}
{% macro default__lookup_index(columns) %}{% endmacro %}
{% macro postgres__lookup_index(columns) -%}
    create index if not exists {{ this.identifier }}__{{ columns | join('_') }} on {{ this }} ({{ columns | join(', ') }})
{%- endmacro %}
