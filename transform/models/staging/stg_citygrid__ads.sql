-- One row per CityGrid publisher code, placement and reporting day, view type `ads`
-- (landed as citygrid_ads).
select
    cast(publisher_code as varchar) as publisher_code,
    cast(placement as varchar) as placement,
    cast("date" as date) as report_date,
    cast(impressions as bigint) as queries,
    cast(bidded_impressions as bigint) as ad_impressions,
    cast(billable_clicks as bigint) as billable_clicks,
    cast(revenue as double precision) as revenue,
    cast(rpm as double precision) as rpm,
    cast(ctr as double precision) as ctr_percent,
    cast(cpc as double precision) as cpc,
    cast(coverage as double precision) as coverage_percent,
    cast(ltc as bigint) as ltc_clicks,
    cast(ltc_revenue as double precision) as ltc_revenue
from {{ landed('citygrid', 'citygrid_ads') }} as landed
