-- One row per report window, partition and metric the vendor states a total for: the
-- tap's verdict (landed as perfreports_reconciliation).
select
    cast(vendor as varchar) as vendor,
    cast(stream as varchar) as source_stream,
    cast(partition_key as varchar) as partition_key,
    cast(window_start as date) as window_start,
    cast(window_end as date) as window_end,
    cast(metric as varchar) as metric,
    cast(rule as varchar) as rule,
    cast(stated as double precision) as stated,
    cast(summed as double precision) as summed,
    cast(difference as double precision) as difference,
    cast(tolerance as double precision) as tolerance,
    cast(verdict as varchar) as verdict
from {{ landed('perfreports', 'perfreports_reconciliation') }} as landed
