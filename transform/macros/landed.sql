{#-
    The landed table `source(source_name, table_name)`, or, when the loader has not created
    it (a vendor that is not configured, or not yet extracted), an empty relation with the
    columns and types its source declares, so that every model still builds. A missing
    table is logged, and `dbt source freshness` fails on it.
    Use as: from {{ landed('citygrid', 'citygrid_ads') }} as landed
-#}
{% macro landed(source_name, table_name) %}
    {%- set relation = source(source_name, table_name) -%}
    {%- if not execute -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- set found = adapter.get_relation(
        database=relation.database, schema=relation.schema, identifier=relation.identifier
    ) -%}
    {%- if found is not none -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- set node = graph.sources.values()
        | selectattr('source_name', 'equalto', source_name)
        | selectattr('name', 'equalto', table_name)
        | first -%}
    {%- set columns = [] -%}
    {%- for column in node.columns.values() -%}
        {%- do columns.append(
            'cast(null as ' ~ column.data_type ~ ') as ' ~ adapter.quote(column.name)
        ) -%}
    {%- endfor -%}
    {{ log(relation ~ " has not been landed: its models are empty", info=true) }}
    {{ return('(select ' ~ columns | join(', ') ~ ' where 1 = 0)') }}
{% endmacro %}
