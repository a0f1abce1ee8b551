-- One row per CityGrid publisher code, placement and reporting day, view type
-- `placesThatPay` (landed as citygrid_places_that_pay).
select
    cast(publisher_code as varchar) as publisher_code,
    cast(placement as varchar) as placement,
    cast("date" as date) as report_date,
    cast(impressions as bigint) as queries,
    cast(revenue as double precision) as revenue,
    cast(rpm as double precision) as rpm,
    cast(ltc as bigint) as ltc_clicks,
    cast(ltc_revenue as double precision) as ltc_revenue
from {{ landed('citygrid', 'citygrid_places_that_pay') }} as landed
