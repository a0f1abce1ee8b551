{#-
    Time zone conversions that read the same in DuckDB (with its built-in ICU) and
    PostgreSQL: a naive timestamp `AT TIME ZONE` a zone is that zone's wall-clock time, as
    an instant; an instant `AT TIME ZONE 'UTC'` is the naive UTC wall-clock time. The tap
    lands every instant as a naive UTC timestamp.
-#}

{#- The naive UTC timestamp of the wall-clock time `ts` in zone `tz` (e.g. 'America/Los_Angeles'). -#}
{% macro local_to_utc(ts, tz) -%}
    ((({{ ts }}) at time zone '{{ tz }}') at time zone 'UTC')
{%- endmacro %}

{#- The wall-clock time in zone `tz` of the naive UTC timestamp `ts`. -#}
{% macro utc_to_local(ts, tz) -%}
    ((({{ ts }}) at time zone 'UTC') at time zone '{{ tz }}')
{%- endmacro %}

{#- A SQL interval literal of `minutes` minutes (may be negative). -#}
{% macro minutes(minutes) -%}
    interval '{{ minutes | int }} minutes'
{%- endmacro %}
