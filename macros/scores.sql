{#- Business rules of the score pipeline that more than one model or test uses. -#}

{#- A ULID: 26 Crockford base32 characters (no I, L, O, U), first one at most 7 (128 bits). -#}
{% macro is_ulid(expression) -%}
    {{ regex_full_match(expression, '[0-7][0-9A-HJKMNP-TV-Z]{25}') }}
{%- endmacro %}

{#- LIKE pattern for a mangled industry name: the feed replaces letters by XXXX, so each `xxxx` of the
    case-folded name stands for exactly one letter; LIKE's own wildcards in the name are escaped. -#}
{% macro mangled_name_pattern(normalized_name) %}{{ return(adapter.dispatch('mangled_name_pattern')(normalized_name)) }}{% endmacro %}
{% macro default__mangled_name_pattern(normalized_name) -%}
    replace(replace(replace(replace({{ normalized_name }}, '\', '\\'), '%', '\%'), '_', '\_'), 'xxxx', '_')
{%- endmacro %}
{#- the same pattern in Spark's literals, where a backslash is written twice (macros/cross_database.sql, like_escape) -#}
{% macro spark__mangled_name_pattern(normalized_name) -%}
    replace(replace(replace(replace({{ normalized_name }}, '\\', '\\\\'), '%', '\\%'), '_', '\\_'), 'xxxx', '_')
{%- endmacro %}

{#- Phi(z), the standard normal CDF. DuckDB (and Spark) have no erf, so this is Hart's (1968) double-precision
    rational approximation in the form given by G. West, "Better approximations to cumulative normal
    functions" (2005): absolute error below 1e-14, plain arithmetic and exp(), portable everywhere.
    `z` and `abs_z` (|z|) must be column names or cheap expressions: they are repeated (|z| some twenty times:
    pass a column computed beforehand). -#}
{% macro normal_cdf(z, abs_z=none) -%}
    {%- set a = abs_z or "abs(" ~ z ~ ")" -%}
    {%- set tail -%}
        case
            when {{ a }} > 37 then 0e0
            when {{ a }} < 7.07106781186547e0 then
                exp(-{{ a }} * {{ a }} / 2e0)
                * ((((((3.52624965998911e-2 * {{ a }} + 7.00383064443688e-1) * {{ a }} + 6.37396220353165e0) * {{ a }}
                    + 3.3912866078383e1) * {{ a }} + 1.12079291497871e2) * {{ a }} + 2.21213596169931e2) * {{ a }}
                    + 2.20206867912376e2)
                / (((((((8.83883476483184e-2 * {{ a }} + 1.75566716318264e0) * {{ a }} + 1.6064177579207e1) * {{ a }}
                    + 8.67807322029461e1) * {{ a }} + 2.96564248779674e2) * {{ a }} + 6.37333633378831e2) * {{ a }}
                    + 7.93826512519948e2) * {{ a }} + 4.40413735824752e2)
            else
                exp(-{{ a }} * {{ a }} / 2e0)
                / ({{ a }} + 1e0 / ({{ a }} + 2e0 / ({{ a }} + 3e0 / ({{ a }} + 4e0 / ({{ a }} + 6.5e-1)))))
                / 2.506628274631e0
        end
    {%- endset -%}
    (case when {{ z }} is null then null when {{ z }} > 0 then 1e0 - ({{ tail }}) else ({{ tail }}) end)
{%- endmacro %}
