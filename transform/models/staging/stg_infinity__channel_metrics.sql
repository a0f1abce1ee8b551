-- One row per Infinity installation, report day and channel (landed as
-- infinity_channel_metrics).
select
    cast(igrp as bigint) as installation_id,
    cast("date" as date) as report_date,
    cast(ch as bigint) as channel_id,
    cast(ch_name as varchar) as channel_name,
    cast(trigger_count as bigint) as trigger_count,
    cast(call_count as bigint) as call_count,
    cast(goal_count as bigint) as goal_count,
    cast(revenue as double precision) as revenue
from {{ landed('infinity', 'infinity_channel_metrics') }} as landed
