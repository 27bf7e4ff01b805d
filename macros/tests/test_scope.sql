{#- Data tests on only the rows a run added.

    Our score tables are append-only by batch: rows tested when their batch landed never change. Testing the
    whole history again on every new batch makes a build's cost grow with history (measured in
    docs/benchmarks.md). With `--vars '{test_since_batch: N}'`, every data test on a model that declares
    `meta: {test_scope_column: <column>}` sees only its rows with `<column> >= N`; the scheduler passes the
    first batch the run landed. Without the var (the default, `make build`, and the periodic full audit) tests
    see every row. -#}

{% macro test_scope_condition(relation) -%}
    {%- set since = var('test_since_batch', none) -%}
    {%- if since is none or not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type in ('model', 'seed', 'snapshot')
              and (node.alias or node.name) | lower == relation.identifier | lower
              and node.schema | lower == relation.schema | lower -%}
            {%- set column = node.config.meta.get('test_scope_column') -%}
            {%- if column -%}
                {{ return(column ~ ' >= ' ~ (since | int)) }}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return('') }}
{%- endmacro %}

{#- A relation, narrowed to the run's rows when test_since_batch is set (see above). -#}
{% macro scoped_relation(relation) -%}
    {%- set condition = test_scope_condition(relation) -%}
    {%- if condition -%}
        (select * from {{ relation }} where {{ condition }}) as dbt_scoped
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{%- endmacro %}

{#- Overrides dbt's macro that applies a test's `where` config to the tested model, adding the scope above. -#}
{% macro get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- do conditions.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- set scope = test_scope_condition(relation) -%}
    {%- if scope -%}
        {%- do conditions.append(scope) -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ conditions | join(' and ') }}) dbt_subquery
        {%- endset -%}
        {{ return(filtered) }}
    {%- else -%}
        {{ return(relation) }}
    {%- endif -%}
{%- endmacro %}
