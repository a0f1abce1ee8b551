-- One row per tracked Infinity event (landed as infinity_triggers).
select
    cast(igrp as bigint) as installation_id,
    cast(row_id as bigint) as row_id,
    cast(trigger_datetime as timestamp) as triggered_at,
    {{ infinity_event_day('trigger_datetime') }} as report_date,
    cast(act as varchar) as action,
    cast(vid as varchar) as visitor_id,
    cast(ch as bigint) as channel_id,
    cast(goal as bigint) as goal_id,
    cast(src_phone_number as varchar) as source_phone_number,
    cast(ip as varchar) as ip_address,
    cast(host as varchar) as host,
    cast(whois as varchar) as whois,
    cast(revenue as double precision) as revenue
from {{ landed('infinity', 'infinity_triggers') }} as landed
