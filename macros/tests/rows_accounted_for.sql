{#- Conservation: every row of `model` (keyed by `key_columns`) appears in exactly one of the `outputs` models.
    An output is a model, or {model: ..., where: ..., key_columns: [...]} to count only some of its rows
    (`where`) and to name its key columns when it calls them otherwise (`key_columns`, in the order of the
    model's). Fails with one row per key that is missing, appears more than once, or appears only in an
    output. With test_since_batch set, the model and the outputs are narrowed alike (see test_scope.sql). -#}
{% test rows_accounted_for(model, key_columns, outputs) %}
{%- set keys = key_columns | join(', ') %}
with source_keys as (
    select {{ keys }} from {{ model }}
),
output_keys as (
    {%- for output in outputs %}
    {#- a rendered ref() is a mapping too (dbt relations are dict-like): tell them apart by the `model` key #}
    {%- set spec = output if output is mapping and 'model' in output else {'model': output} %}
    {%- set own_keys = spec.get('key_columns', key_columns) %}
    select
        {%- for key in key_columns %}
        {{ own_keys[loop.index0] }} as {{ key }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ scoped_relation(spec['model']) }}
    {%- if 'where' in spec %}
    where {{ spec['where'] }}
    {%- endif %}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),
output_counts as (
    select {{ keys }}, count(*) as times_output from output_keys group by {{ keys }}
),
final as (
    select
        {%- for key in key_columns %}
        coalesce(source_keys.{{ key }}, output_counts.{{ key }}) as {{ key }},
        {%- endfor %}
        case
            when output_counts.times_output is null then 'lost: in the source, in no output'
            when source_keys.{{ key_columns[0] }} is null then 'invented: in an output, not in the source'
            else 'duplicated: in ' || {{ cast('output_counts.times_output', 'varchar') }} || ' outputs'
        end as problem
    from source_keys
    full outer join output_counts
        on {% for key in key_columns %}source_keys.{{ key }} = output_counts.{{ key }}{% if not loop.last %} and {% endif %}{% endfor %}
    where output_counts.times_output is distinct from 1 or source_keys.{{ key_columns[0] }} is null
)
select * from final
{% endtest %}
