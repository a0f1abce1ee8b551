-- One row per engagement metric of an Adobe Target recipe (landed as
-- adobe_target_engagement).
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
    cast("count" as bigint) as engagement_count,
    cast(total as double precision) as engagement_total,
    cast(sum_of_squares as double precision) as sum_of_squares
from {{ landed('adobe_target', 'adobe_target_engagement') }} as landed
