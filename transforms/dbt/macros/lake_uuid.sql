{#- A lake id (text) as uuid, or null when it is not a UUID. The lake keeps what services sent as
    text; platform ids are UUIDs, and the staging models keep only rows whose ids are. -#}
{% macro lake_uuid(column) -%}
    case
        when {{ column }} ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
            then {{ column }}::uuid
    end
{%- endmacro %}
