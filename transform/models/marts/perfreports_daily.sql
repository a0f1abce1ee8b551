{#-
    One row per reporting day, vendor, source stream, partition and currency, with the
    measures the vendors share on common names, null where a vendor has no such measure.
    Each measure of a vendor comes from exactly one stream, and rows that restate other
    rows are left out, so that summing any measure over any rows never counts twice.
    The mapping, and what is left out and why, is in schema.yml and the README.
-#}
{%- set counting = var('adobe_target_counting') -%}
{%- if counting not in ('visit', 'visitor', 'impression') -%}
    {{ exceptions.raise_compiler_error(
        "var adobe_target_counting must be visit, visitor or impression, not " ~ counting
    ) }}
{%- endif -%}

with

-- Infinity: the day's counts per channel. infinity_triggers holds the same events one by
-- one (its calls, goals and revenue add up to these), so it adds no rows.
infinity as (
    select
        report_date,
        'infinity' as vendor,
        'infinity_channel_metrics' as source_stream,
        'installation_id=' || cast(installation_id as varchar) as partition_key,
        cast(null as varchar) as currency,
        cast(null as bigint) as impressions,
        cast(null as bigint) as clicks,
        cast(sum(goal_count) as bigint) as conversions,
        cast(sum(call_count) as bigint) as calls,
        cast(sum(revenue) as double precision) as revenue,
        cast(null as double precision) as spend
    from {{ ref('stg_infinity__channel_metrics') }}
    group by report_date, installation_id
),

-- Plum Voice: daily periods only (a week or month cannot be split into days). The ALL
-- rows are the sum of every number: on a day that has one, it alone counts; the numbers'
-- own rows count only on days without it (when ALL is not extracted).
plumvoice_days as (
    select *
    from {{ ref('stg_plumvoice__performance') }}
    where period = 'day'
),

plumvoice_merged_days as (
    select distinct period_start_date
    from plumvoice_days
    where phone = 'ALL'
),

plumvoice as (
    select
        period_start_date as report_date,
        'plumvoice' as vendor,
        'plumvoice_performance' as source_stream,
        'phone=' || phone as partition_key,
        cast(null as varchar) as currency,
        cast(null as bigint) as impressions,
        cast(null as bigint) as clicks,
        cast(null as bigint) as conversions,
        cast(sum(calls) as bigint) as calls,
        cast(null as double precision) as revenue,
        cast(null as double precision) as spend
    from plumvoice_days
    where
        phone = 'ALL'
        or period_start_date not in (select period_start_date from plumvoice_merged_days)
    group by period_start_date, phone
),

-- Adobe Target: day samples of the aggregate report (a segment's report is a part of it,
-- and segments may overlap), experiences only (the recipe named "Campaign" is their
-- summary). Impressions: the first step (Entry) of the impression report; conversions:
-- the last step (the conversion) of the report var adobe_target_counting names.
adobe_target_steps_last as (
    select
        *,
        max(step_position) over (
            partition by
                campaign_id, metric_type, segment_id, sample_start, duration, recipe_name
        ) as last_step_position
    from {{ ref('stg_adobe_target__steps') }}
    where
        duration = 'day'
        and segment_id = 'aggregate'
        and recipe_name <> 'Campaign'
),

adobe_target_steps as (
    select
        sample_date as report_date,
        'adobe_target' as vendor,
        'adobe_target_steps' as source_stream,
        'campaign_id=' || cast(campaign_id as varchar) as partition_key,
        cast(null as varchar) as currency,
        cast(sum(case
            when metric_type = 'impression' and step_position = 1 then step_value
        end) as bigint) as impressions,
        cast(null as bigint) as clicks,
        cast(sum(case
            when metric_type = '{{ counting }}' and step_position = last_step_position
                then step_value
        end) as bigint) as conversions,
        cast(null as bigint) as calls,
        cast(null as double precision) as revenue,
        cast(null as double precision) as spend
    from adobe_target_steps_last
    group by sample_date, campaign_id
),

-- Adobe Target revenue: each report type carries the recipes' amount; one of them counts.
adobe_target_recipes as (
    select
        sample_date as report_date,
        'adobe_target' as vendor,
        'adobe_target_recipes' as source_stream,
        'campaign_id=' || cast(campaign_id as varchar) as partition_key,
        cast(null as varchar) as currency,
        cast(null as bigint) as impressions,
        cast(null as bigint) as clicks,
        cast(null as bigint) as conversions,
        cast(null as bigint) as calls,
        cast(sum(revenue) as double precision) as revenue,
        cast(null as double precision) as spend
    from {{ ref('stg_adobe_target__recipes') }}
    where
        duration = 'day'
        and segment_id = 'aggregate'
        and recipe_name <> 'Campaign'
        and metric_type = '{{ counting }}'
    group by sample_date, campaign_id
),

-- CityGrid: revenue from view type overall, ad impressions and clicks from view type ads;
-- nothing from placesThatPay (its revenue is in overall's, its "impressions" are queries).
citygrid_overall as (
    select
        report_date,
        'citygrid' as vendor,
        'citygrid_overall' as source_stream,
        'publisher_code=' || publisher_code || ' placement=' || placement as partition_key,
        cast(null as varchar) as currency,
        cast(null as bigint) as impressions,
        cast(null as bigint) as clicks,
        cast(null as bigint) as conversions,
        cast(null as bigint) as calls,
        cast(sum(revenue) as double precision) as revenue,
        cast(null as double precision) as spend
    from {{ ref('stg_citygrid__overall') }}
    group by report_date, publisher_code, placement
),

citygrid_ads as (
    select
        report_date,
        'citygrid' as vendor,
        'citygrid_ads' as source_stream,
        'publisher_code=' || publisher_code || ' placement=' || placement as partition_key,
        cast(null as varchar) as currency,
        cast(sum(ad_impressions) as bigint) as impressions,
        cast(sum(billable_clicks) as bigint) as clicks,
        cast(null as bigint) as conversions,
        cast(null as bigint) as calls,
        cast(null as double precision) as revenue,
        cast(null as double precision) as spend
    from {{ ref('stg_citygrid__ads') }}
    group by report_date, publisher_code, placement
),

-- Mintegral: per campaign and currency (amounts in USD and CNY are never added).
mintegral as (
    select
        report_date,
        'mintegral' as vendor,
        'mintegral_performance' as source_stream,
        'campaign_id=' || cast(campaign_id as varchar) as partition_key,
        currency,
        cast(sum(impressions) as bigint) as impressions,
        cast(sum(clicks) as bigint) as clicks,
        cast(sum(conversions) as bigint) as conversions,
        cast(null as bigint) as calls,
        cast(null as double precision) as revenue,
        cast(sum(spend) as double precision) as spend
    from {{ ref('stg_mintegral__performance') }}
    group by report_date, campaign_id, currency
)

select * from infinity
union all
select * from plumvoice
union all
select * from adobe_target_steps
union all
select * from adobe_target_recipes
union all
select * from citygrid_overall
union all
select * from citygrid_ads
union all
select * from mintegral
