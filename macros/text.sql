{#- Blank after normalisation: a text is blank when every character of it renders as nothing, i.e. belongs to
    var('blank_text_characters') (dbt_project.yml: Unicode White_Space, control characters, default-ignorable
    characters such as U+200B, U+2060, U+FEFF). The same definition as core.text.is_blank, which the loaders
    and the service use; tests/models/test_blank_text.py checks the two agree on every code point and every engine. -#}
{% macro is_blank_text(expression) -%}
    {%- set ranges = [] -%}
    {%- for item in var('blank_text_characters') -%}
        {%- set bounds = item.split('-') -%}
        {%- set first = code_point_escape(bounds[0]) -%}
        {%- do ranges.append(first if bounds | length == 1 else first ~ '-' ~ code_point_escape(bounds[1])) -%}
    {%- endfor -%}
    {{ regex_full_match(expression, '[' ~ ranges | join('') ~ ']*') }}
{%- endmacro %}

{#- one code point (hex digits) as a regular-expression escape: RE2 (DuckDB) and Java (Spark) read \x{hex};
    Postgres reads \u (4 digits) and \U (8 digits) -#}
{% macro code_point_escape(hex) %}{{ return(adapter.dispatch('code_point_escape')(hex)) }}{% endmacro %}
{% macro default__code_point_escape(hex) -%}
    {{- '\\u' ~ hex.rjust(4, '0') if hex | length <= 4 else '\\U' ~ hex.rjust(8, '0') -}}
{%- endmacro %}
{% macro duckdb__code_point_escape(hex) %}{{ '\\x{' ~ hex ~ '}' }}{% endmacro %}
{% macro spark__code_point_escape(hex) %}{{ '\\x{' ~ hex ~ '}' }}{% endmacro %}
