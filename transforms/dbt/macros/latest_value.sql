{#- In a group of events, the latest non-null value of a scalar column (by occurred_at, then the
    outbox sequence): the state an entity's created / updated events leave. Not for array columns
    (array_agg of arrays builds a matrix). -#}
{% macro latest_value(column) -%}
    (array_agg({{ column }} order by occurred_at desc, event_seq desc nulls last)
        filter (where {{ column }} is not null))[1]
{%- endmacro %}
