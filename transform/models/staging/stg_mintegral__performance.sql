-- One row per Mintegral report day, offer, campaign, location and currency (landed as
-- mintegral_performance, the tap's default report).
select
    cast("date" as date) as report_date,
    cast(offer_id as bigint) as offer_id,
    cast(offer_uuid as varchar) as offer_uuid,
    cast(offer_name as varchar) as offer_name,
    cast(campaign_id as bigint) as campaign_id,
    cast(location as varchar) as location,
    cast(currency as varchar) as currency,
    cast(impression as bigint) as impressions,
    cast(click as bigint) as clicks,
    cast(conversion as bigint) as conversions,
    cast(ecpm as double precision) as ecpm,
    cast(cpc as double precision) as cpc,
    cast(ctr as double precision) as ctr,
    cast(cvr as double precision) as cvr,
    cast(ivr as double precision) as ivr,
    cast(spend as double precision) as spend
from {{ landed('mintegral', 'mintegral_performance') }} as landed
