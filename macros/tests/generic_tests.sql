{#- Small generic tests (dbt hub packages such as dbt_utils cannot be installed offline). -#}

{#- No two rows share the same combination of columns. -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
{%- set columns = combination_of_columns | join(', ') %}
select {{ columns }}, count(*) as occurrences
from {{ model }}
group by {{ columns }}
having count(*) > 1
{% endtest %}

{#- Every non-null value lies between min_value and max_value; either bound may be omitted or made exclusive. -#}
{% test values_between(model, column_name, min_value=none, max_value=none, min_inclusive=true, max_inclusive=true) %}
{%- set lower_op = '>=' if min_inclusive else '>' %}
{%- set upper_op = '<=' if max_inclusive else '<' %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
  and not (
      {% if min_value is not none %}{{ column_name }} {{ lower_op }} {{ min_value }}{% else %}true{% endif %}
      and {% if max_value is not none %}{{ column_name }} {{ upper_op }} {{ max_value }}{% else %}true{% endif %}
  )
{% endtest %}

{#- The rows violating a boolean SQL expression (a row-level invariant). -#}
{% test expression_is_true(model, expression, column_name=none) %}
select * from {{ model }} where not ({{ expression }})
{% endtest %}
