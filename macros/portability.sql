{#- The few spots where SQL dialects differ, behind dispatch so the models stay portable
    (DuckDB is the default adapter; Postgres and Spark are where larger teams go). -#}

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

{#- one row per piece of a string cut at a literal separator (a set-returning select expression) -#}
{% macro split_to_rows(expression, separator) %}{{ return(adapter.dispatch('split_to_rows')(expression, separator)) }}{% endmacro %}
{% macro default__split_to_rows(expression, separator) %}unnest(string_to_array({{ expression }}, '{{ separator }}')){% endmacro %}
{% macro duckdb__split_to_rows(expression, separator) %}unnest(string_split({{ expression }}, '{{ separator }}')){% endmacro %}
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

{#- Spark's split takes a regular expression: the separator is quoted (\\Q..\\E in a Spark literal) -#}
{% macro spark__split_to_rows(expression, separator) %}explode(split({{ expression }}, '\\Q{{ separator }}\\E')){% endmacro %}

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

{#- Vectors. DuckDB keeps them as FLOAT[<dim>] arrays; Postgres as pgvector's vector(<dim>). The Python models
    write FLOAT[<dim>] through DuckDB on both engines (on Postgres that lands as its text form, '[0.1, ...]', in
    text_embeddings); the marts that expose vectors make them the engine's vector type here. -#}
{% macro as_vector(expression) %}{{ return(adapter.dispatch('as_vector')(expression)) }}{% endmacro %}
{% macro default__as_vector(expression) %}cast({{ expression }} as vector({{ var('embedding_dim') }})){% endmacro %}
{% macro duckdb__as_vector(expression) %}{{ expression }}{% endmacro %}
{#- Spark: array<float> (no fixed length in the type; the contract and a test check 384) -#}
{% macro spark__as_vector(expression) %}cast({{ expression }} as array<float>){% endmacro %}

{#- inner product of two vectors (1 for a unit vector with itself) -#}
{% macro vector_inner_product(left, right) %}{{ return(adapter.dispatch('vector_inner_product')(left, right)) }}{% endmacro %}
{% macro default__vector_inner_product(left, right) %}(-({{ left }} <#> {{ right }})){% endmacro %}
{% macro duckdb__vector_inner_product(left, right) %}list_dot_product({{ left }}::float[], {{ right }}::float[]){% endmacro %}
{#- Spark: summed left to right in double (DuckDB's list_dot_product sums floats: expect differences near 1e-7) -#}
{% macro spark__vector_inner_product(left, right) -%}
    aggregate(zip_with({{ left }}, {{ right }}, (x, y) -> cast(x as double) * cast(y as double)), cast(0 as double), (acc, v) -> acc + v)
{%- endmacro %}

{#- post-hook: an approximate nearest-neighbour index on a vector column, where the engine has one in SQL
    (pgvector's HNSW, cosine distance); nothing on DuckDB, whose search is exact (docs/search.md). -#}
{% macro vector_index(column) %}{{ return(adapter.dispatch('vector_index')(column)) }}{% endmacro %}
{% macro default__vector_index(column) -%}
    create index if not exists {{ this.identifier }}_{{ column }}_hnsw on {{ this }} using hnsw ({{ column }} vector_cosine_ops)
{%- endmacro %}
{% macro duckdb__vector_index(column) %}{% endmacro %}
{% macro spark__vector_index(column) %}{% endmacro %}

{#- pre-hook of the first model with vectors (search_chunks): the engine's vector type available (pgvector on Postgres: the local server creates it too, an
    external PGHOST needs the extension created beforehand, or the right to create it) -#}
{% macro ensure_vector_type() %}{{ return(adapter.dispatch('ensure_vector_type')()) }}{% endmacro %}
{#- A user who may not create extensions (an RDS/Aurora or other managed-server user without rds_superuser) gets an error saying what to
    ask the administrator for, instead of "permission denied to create extension"; when the extension exists, nothing is created. -#}
{% macro default__ensure_vector_type() -%}
do $ensure_vector$
begin
    if not exists (select 1 from pg_extension where extname = 'vector') then
        begin
            create extension vector;
        exception when others then
            raise exception 'the database "%" has no vector extension (pgvector), which vector search needs, and user "%" cannot create it (%): ask the server''s administrator to run "create extension vector;" in that database (on RDS/Aurora: a user with rds_superuser)', current_database(), current_user, sqlerrm;
        end;
    end if;
end
$ensure_vector$
{%- endmacro %}
{% macro duckdb__ensure_vector_type() %}{% endmacro %}
{% macro spark__ensure_vector_type() %}{% endmacro %}

{#- post-hook: a b-tree index for the lookups an incremental build makes on a table that grows with history (its
    high-water mark `max(iteration)`, the rows of one batch, an asset's earlier rows). Postgres scans a whole table
    without one, so one new batch would cost more as history grows (measured: docs/benchmarks.md); DuckDB's
    per-segment min/max already skips old row groups and an index would slow its appends: nothing there. -#}
{% macro lookup_index(columns) %}{{ return(adapter.dispatch('lookup_index')(columns)) }}{% endmacro %}
{% macro default__lookup_index(columns) %}{% endmacro %}
{% macro postgres__lookup_index(columns) -%}
    create index if not exists {{ this.identifier }}__{{ columns | join('_') }} on {{ this }} ({{ columns | join(', ') }})
{%- endmacro %}

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

{#- Exact, order-independent sums of doubles, so a statistic does not depend on the order rows arrive in (a
    window built batch by batch and the same window rebuilt with all the others agree to the bit) and needs no
    sort. Each value is split into a power of two (`exact_sum_exponent`) and an integer (`exact_sum_mantissa`,
    |m| < 2^55: x = m * 2^(e - 53) exactly, whatever ln's last-bit error in e); the integers of one exponent are
    summed exactly (in 128 bits or more: 2^73 values before a sum could overflow), and the few per-exponent totals
    are added as doubles in exponent order (`exact_sum_total`, an aggregate over those sums). Values below
    2^-960 are clamped to that exponent (their power of two would overflow): rounded, still order-independent. -#}
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
