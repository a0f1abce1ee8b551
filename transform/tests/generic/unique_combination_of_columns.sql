{#-
    Fails for every combination of `combination_of_columns` that more than one row of the
    model holds: a composite primary key. (dbt_utils has the same test; dbt Hub, where
    packages come from, is not reachable from this project's machines.)
    A null in a key column counts as a value here: not_null tests the key's columns.
-#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
    {%- set columns = combination_of_columns | join(', ') -%}
    select {{ columns }}, count(*) as rows_with_this_key
    from {{ model }}
    group by {{ columns }}
    having count(*) > 1
{% endtest %}
