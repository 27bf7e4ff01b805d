{#- The incremental high-water mark, the one filter every append-only model uses: on an incremental run, true
    only for the rows whose `column` lies past the largest `this_column` (by default the same name) already in
    the model's table; on a full build, true. Batches and iterations only ever grow, so "past the largest one
    built" is "not built yet". -#}
{% macro after_high_water_mark(column, this_column=none) -%}
    {%- if is_incremental() -%}
        {{ column }} > (select coalesce(max({{ this_column or column }}), -1) from {{ this }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
