-- One row per CityGrid publisher code, placement and reporting day, view type `overall`
-- (landed as citygrid_overall).
select
    cast(publisher_code as varchar) as publisher_code,
    cast(placement as varchar) as placement,
    cast("date" as date) as report_date,
    cast(billable_connections as bigint) as billable_connections,
    cast(revenue as double precision) as revenue,
    cast(cpc as double precision) as cpc,
    cast(ltc as bigint) as ltc_clicks,
    cast(ltc_revenue as double precision) as ltc_revenue
from {{ landed('citygrid', 'citygrid_overall') }} as landed
