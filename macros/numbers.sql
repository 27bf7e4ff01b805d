{#- Which raw texts are numbers: one grammar, decided by regular expressions before any engine's cast sees the
    text, so DuckDB, Postgres and Spark take exactly the same values (the casts themselves disagree: DuckDB's reads
    '1_000' and ' 1', Spark's '1d' and '0x10'-like Java forms, Postgres's raises on '1e400').

    A score text (the JSON number's literal, or a JSON string's content) is, in full, with nothing around it:
      numeral     [+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?   digits = [0-9]+, at most 1000
                  characters in all: its value, correctly rounded to the nearest double; a value beyond the double
                  range (|x| >= 2^1024 after rounding: 1e400) is +-infinity, and the record an
                  `out_of_range_score` reject; below the smallest subnormal it is (signed) zero. The largest finite
                  double, 1.7976931348623157e308, is a number like any other.
      non-finite  [+-]? (NaN | Inf | Infinity), any case: NaN or +-infinity, the record a `non_finite_score` reject.
    Anything else is not a number (`non_numeric_score`): '1_000', '0x10', ' 1' (surrounding whitespace), '',
    '1d', 'error'; so are JSON true/false, objects and arrays (stg_score_batches casts numbers and strings only),
    and JSON null is a `missing_score`. Written down in docs/scores.md ("Cleaning") too. -#}

{#- the grammar's two forms, as regular expressions (no backslashes: one spelling for every engine) -#}
{% macro numeral_pattern() %}[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?{% endmacro %}
{% macro non_finite_pattern() %}[+-]?([nN][aA][nN]|[iI][nN][fF]([iI][nN][iI][tT][yY])?){% endmacro %}

{#- 'numeral', 'non_finite' or null (not a number) for a text -#}
{% macro number_syntax(expression) -%}
    case
        when length({{ expression }}) <= 1000 and {{ regex_full_match(expression, numeral_pattern()) }} then 'numeral'
        when {{ regex_full_match(expression, non_finite_pattern()) }} then 'non_finite'
    end
{%- endmacro %}

{#- the double a text of the grammar stands for, null for any other text; `syntax` is the text's number_syntax,
    computed once by the caller (the regular expressions are the costly part) -#}
{% macro parse_number(expression, syntax) -%}
    case {{ syntax }}
        when 'numeral' then {{ numeral_to_double(expression) }}
        when 'non_finite' then
            case
                when lower({{ expression }}) like '%nan' then cast('NaN' as {{ type_double() }})
                when {{ expression }} like '-%' then cast('-Infinity' as {{ type_double() }})
                else cast('Infinity' as {{ type_double() }})
            end
    end
{%- endmacro %}

{#- the largest finite double, 2^1024 - 2^971 -#}
{% macro largest_double() %}cast('1.7976931348623157e308' as {{ type_double() }}){% endmacro %}

{#- true for a finite double (false for NaN, which compares above every number on all three engines) -#}
{% macro is_finite(expression) %}(abs({{ expression }}) <= {{ largest_double() }}){% endmacro %}

{#- A numeral (numeral_pattern, already checked) as a double: the engine's own correctly rounded conversion, +-inf
    on overflow and signed zero on underflow, never an error. DuckDB's and Spark's casts do exactly that. -#}
{% macro numeral_to_double(numeral) %}{{ return(adapter.dispatch('numeral_to_double')(numeral)) }}{% endmacro %}
{% macro default__numeral_to_double(numeral) %}try_cast({{ numeral }} as {{ type_double() }}){% endmacro %}
{#- Postgres's cast raises on a value a double cannot hold ('1e400', '1e-400'), which would fail the whole build:
    overflow and underflow are decided on an exact numeric first, and on the order of magnitude read from the text
    when even numeric cannot hold the value ('1e99999'). -#}
{% macro postgres__numeral_to_double(numeral) -%}
    {%- set sign = "(case when " ~ numeral ~ " like '-%' then -1e0 else 1e0 end)" -%}
    {%- set exponent = "coalesce(cast(substring(" ~ numeral ~ " from '[eE]([+-]?[0-9]+)$') as numeric), 0)" -%}
    {%- set mantissa = "substring(" ~ numeral ~ " from '^[+-]?([0-9.]+)')" -%}
    {%- set integer_digits = "ltrim(split_part(" ~ mantissa ~ ", '.', 1), '0')" -%}
    {%- set fraction = "split_part(" ~ mantissa ~ ", '.', 2)" -%}
    {#- decimal order of magnitude of a non-zero mantissa: 1.5e3 -> 3, 0.015 -> -2 -#}
    {%- set order -%}
        ({{ exponent }} + case when {{ integer_digits }} <> '' then length({{ integer_digits }}) - 1
            else -(length({{ fraction }}) - length(ltrim({{ fraction }}, '0'))) - 1 end)
    {%- endset -%}
    case
        when {{ numeral }} ~ '^[+-]?[0.]+([eE].*)?$' then {{ sign }} * cast(0 as double precision)
        when {{ order }} > 400 then {{ sign }} * cast('infinity' as double precision)
        when {{ order }} < -400 then {{ sign }} * cast(0 as double precision)
        -- 2^1024 - 2^970: from here on the nearest double is infinity
        when abs(cast({{ numeral }} as numeric)) >= 1.7976931348623158079372897140530341507993e308
            then {{ sign }} * cast('infinity' as double precision)
        -- 2^-1075, half the smallest subnormal: up to here the nearest double is zero (ties to even)
        when abs(cast({{ numeral }} as numeric)) <= 2.4703282292062327208828439643411068618253e-324
            then {{ sign }} * cast(0 as double precision)
        else cast(cast({{ numeral }} as numeric) as double precision)
    end
{%- endmacro %}
