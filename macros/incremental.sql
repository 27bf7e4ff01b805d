{#- The incremental high-water mark, the one filter every append-only model uses: on an incremental run, true
    only for the rows whose `column` lies past the largest `this_column` (by default the same name) already in
    the model's table; on a full build, true. Batches and iterations only ever grow, so "past the largest one
    built" is "not built yet". A model that calls it declares that column of its table in its config too (meta
    high_water_mark: what rewind_incremental_models deletes by), checked here on every compile. -#}
{% macro after_high_water_mark(column, this_column=none) -%}
    {%- set this_column = this_column or column -%}
    {%- set declared = (config.get('meta') or {}).get('high_water_mark') -%}
    {%- if declared and declared != this_column -%}
        {{ exceptions.raise_compiler_error(model.name ~ ": after_high_water_mark reads " ~ this_column ~ " of its table, its config's meta high_water_mark says " ~ declared) }}
    {%- endif -%}
    {%- if is_incremental() -%}
        {{ column }} > (select coalesce(max({{ this_column }}), -1) from {{ this }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- `dbt run-operation rewind_incremental_models --args '{from_batch: N}'`: every built model with a high-water mark
    loses its rows at or past batch (iteration) N, so the next build recomputes batch N and everything after it (a
    later iteration's window holds the earlier batches, so nothing past N can stay): a backfill of batches from N
    (orchestration). The raw batches are not touched; the models' rows before N stay as they are. -#}
{% macro rewind_incremental_models(from_batch) %}
    {%- set from_batch = from_batch | int -%}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'model' and (node.config.meta or {}).get('high_water_mark') -%}
        {%- set relation = adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias) -%}
        {%- if relation is not none -%}
            {%- do delete_at_or_after(relation, node.config.meta['high_water_mark'], from_batch) -%}
            {{ log("rewound " ~ node.name ~ " to before batch " ~ from_batch, info=true) }}
        {%- endif -%}
    {%- endfor -%}
{% endmacro %}

{% macro delete_at_or_after(relation, column, value) %}
    {{ return(adapter.dispatch('delete_at_or_after')(relation, column, value)) }}
{% endmacro %}

{% macro default__delete_at_or_after(relation, column, value) %}
    {%- call statement('rewind', auto_begin=True) -%}
        delete from {{ relation }} where {{ column }} >= {{ value }}
    {%- endcall -%}
    {%- do adapter.commit() -%}
{% endmacro %}

{#- Parquet tables take no delete: the rows kept go to a staging table, which then overwrites the table (Spark
    refuses to overwrite a table the same query reads), as the delete+insert strategy does (spark_incremental.sql) -#}
{% macro spark__delete_at_or_after(relation, column, value) %}
    {%- set kept = relation.incorporate(path={"identifier": relation.identifier ~ "__rewind"}) -%}
    {%- do run_query("drop table if exists " ~ kept) -%}
    {%- do run_query("create table " ~ kept ~ " using parquet as select * from " ~ relation ~ " where " ~ column ~ " < " ~ value) -%}
    {%- do run_query("insert overwrite table " ~ relation ~ " select * from " ~ kept) -%}
    {%- do run_query("drop table " ~ kept) -%}
{% endmacro %}
