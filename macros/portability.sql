{#- The few spots where SQL dialects differ, behind dispatch so the models stay portable
    (DuckDB is the default adapter; Postgres and Spark are where larger teams go). -#}

{% macro type_double() %}{{ return(adapter.dispatch('type_double')()) }}{% endmacro %}
{% macro default__type_double() %}double precision{% endmacro %}
{% macro spark__type_double() %}double{% endmacro %}

{#- true when the whole string matches the regular expression -#}
{% macro regex_full_match(expression, pattern) %}{{ return(adapter.dispatch('regex_full_match')(expression, pattern)) }}{% endmacro %}
{% macro default__regex_full_match(expression, pattern) %}({{ expression }} ~ '^(?:{{ pattern }})$'){% endmacro %}
{% macro duckdb__regex_full_match(expression, pattern) %}regexp_full_match({{ expression }}, '{{ pattern }}'){% endmacro %}
{% macro spark__regex_full_match(expression, pattern) %}({{ expression }} rlike '^(?:{{ pattern }})$'){% endmacro %}

{#- cast text to a double, null when it is not a number (dbt.safe_cast is a plain cast on dbt-duckdb) -#}
{% macro safe_cast_double(expression) %}{{ return(adapter.dispatch('safe_cast_double')(expression)) }}{% endmacro %}
{% macro default__safe_cast_double(expression) -%}
    case
        when trim({{ expression }}) ~* '^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$|^[+-]?(nan|inf|infinity)$'
            then cast(trim({{ expression }}) as {{ type_double() }})
    end
{%- endmacro %}
{% macro duckdb__safe_cast_double(expression) %}try_cast({{ expression }} as double){% endmacro %}
{% macro spark__safe_cast_double(expression) %}try_cast({{ expression }} as double){% endmacro %}
