{#- Overrides of the adapters' own macros (dbt calls them by their adapter-prefixed names; the project's
    version wins over the adapter's). dbt-spark's incremental strategies are overridden in spark_incremental.sql. -#}

{#- Incremental models compare the new rows' column types with the table's (on_schema_change). On Postgres a
    string literal, a seed column or lower()/trim() is `text`, while a contract's `varchar` creates `character
    varying`: the same unbounded string type under two names, which dbt's default comparison reports as a type
    change (failing every contracted incremental mart on its second build). Unbounded strings compare equal here;
    every other difference is still reported. -#}
{% macro postgres__diff_column_data_types(source_columns, target_columns) %}
    {%- set unbounded_strings = ['text', 'character varying'] -%}
    {%- set result = [] -%}
    {%- for sc in source_columns -%}
        {%- set tc = target_columns | selectattr('name', 'equalto', sc.name) | list | first -%}
        {%- if tc and sc.expanded_data_type != tc.expanded_data_type and not sc.can_expand_to(other_column=tc) -%}
            {%- if not (sc.data_type | lower in unbounded_strings and tc.data_type | lower in unbounded_strings) -%}
                {%- do result.append({'column_name': tc.name, 'new_type': sc.expanded_data_type}) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(result) }}
{% endmacro %}

{#- Spark names types differently: `string` (a bare `varchar` is an error, it needs a length), `double` (no
    `double precision`), `array<...>`. dbt casts the contracts' declared types through this macro (the empty
    schema it compares a model's columns with), so on Spark the contracts' portable names are translated here;
    every other engine casts as written. -#}
{#- (self-contained: dbt calls it from its own namespace, where the project's other macros are not in scope) -#}
{% macro spark__cast(field, type) -%}
    {%- set t = type | trim | lower -%}
    {#- timestamp: DuckDB's and Postgres's are without time zone, Spark's `timestamp` is with one -#}
    {%- set names = {'varchar': 'string', 'text': 'string', 'double precision': 'double', 'integer[]': 'array<int>',
                     'varchar[]': 'array<string>', 'timestamp': 'timestamp_ntz'} -%}
    cast({{ field }} as {% if t in names %}{{ names[t] }}{% elif t.startswith('float[') %}array<float>{% else %}{{ type }}{% endif %})
{%- endmacro %}
