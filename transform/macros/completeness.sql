{#-
    Each vendor's completeness rule, as the tap applies it (its default end_date), written
    as the UTC instant at which a landed row's reporting day, or period, became complete.
    Source freshness measures a table's age from the latest of these instants: a table is
    up to date while the day after its latest day is not yet complete (age < 24 hours),
    and late once that day has been complete for a while (see the sources' warn_after).
    Every result is a naive UTC timestamp, which dbt reads as UTC.
-#}

{#- Infinity: a report day (in the report time zone, var infinity_tz, the tap's `tz`) is
    complete at the next local midnight. -#}
{% macro infinity_day_complete_at(day) -%}
    {{ local_to_utc("cast(" ~ day ~ " as timestamp) + interval '1 day'", var('infinity_tz')) }}
{%- endmacro %}

{#- Infinity events: their report day is the local date of trigger_datetime (landed in UTC). -#}
{% macro infinity_event_day(trigger_datetime) -%}
    cast({{ utc_to_local(trigger_datetime, var('infinity_tz')) }} as date)
{%- endmacro %}

{#- Plum Voice: period_start is the account's local midnight as a UTC instant, and the
    account's time zone is not in the data: its local date is the UTC date 12 hours later
    (right for every zone from UTC-12 to UTC+12). -#}
{% macro plumvoice_local_date(period_start) -%}
    cast(({{ period_start }}) + interval '12 hours' as date)
{%- endmacro %}

{#- Plum Voice: the tap extracts a day once it is over in every time zone (UTC-12), i.e.
    at 12:00 UTC the next day; a week or month once its last day is. -#}
{% macro plumvoice_period_complete_at(period_start, period) -%}
    (cast({{ plumvoice_local_date(period_start) }} as timestamp)
        + case {{ period }}
            when 'week' then interval '7 days'
            when 'month' then interval '1 month'
            else interval '1 day'
        end
        + interval '12 hours')
{%- endmacro %}

{#- Adobe Target: sample_start is the account's local time, which the tap reads as UTC; a
    sample is complete when its duration has passed. -#}
{% macro adobe_target_sample_complete_at(sample_start, duration) -%}
    (({{ sample_start }})
        + case {{ duration }}
            when 'hour' then interval '1 hour'
            when 'week' then interval '7 days'
            when 'month' then interval '1 month'
            else interval '1 day'
        end)
{%- endmacro %}

{#- CityGrid: reporting day D runs from 21:00 on D-1 to 21:00 on D, Pacific time (daylight
    saving included), and is complete at its end. -#}
{% macro citygrid_day_complete_at(day) -%}
    {{ local_to_utc("cast(" ~ day ~ " as timestamp) + interval '21 hours'", 'America/Los_Angeles') }}
{%- endmacro %}

{#- Mintegral: a day's data is ready at 03:00 the next day in the report time zone
    (var mintegral_timezone, hours east of UTC, the tap's `timezone`), the newer of the
    API page's two statements and the one the tap follows. -#}
{% macro mintegral_day_complete_at(day) -%}
    (cast({{ day }} as timestamp) + {{ minutes((27 - var('mintegral_timezone') | float) * 60) }})
{%- endmacro %}
