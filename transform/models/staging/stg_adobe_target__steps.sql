-- One row per Adobe Target campaign, report type, segment, sample, recipe and step
-- (landed as adobe_target_steps).
select
    cast(campaign_id as bigint) as campaign_id,
    cast(metric_type as varchar) as metric_type,
    cast(segment_id as varchar) as segment_id,
    cast(segment_name as varchar) as segment_name,
    cast(sample_start as timestamp) as sample_start,
    cast(sample_start as date) as sample_date,
    cast(duration as varchar) as duration,
    cast(recipe_name as varchar) as recipe_name,
    cast(step_name as varchar) as step_name,
    cast(step_position as bigint) as step_position,
    cast("value" as double precision) as step_value
from {{ landed('adobe_target', 'adobe_target_steps') }} as landed
