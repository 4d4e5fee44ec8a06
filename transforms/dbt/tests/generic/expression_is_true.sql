{% test expression_is_true(model, expression) %}
{#- Model-level test: fails with one row per row where `expression` is false (NULL passes). -#}
select *
from {{ model }}
where not ({{ expression }})
{% endtest %}
