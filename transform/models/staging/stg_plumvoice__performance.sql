-- One row per Plum Voice phone number (or ALL, the merged view), period and period start
-- (landed as plumvoice_performance).
select
    cast(phone as varchar) as phone,
    cast(period as varchar) as period,
    cast(period_start as timestamp) as period_start_at,
    {{ plumvoice_local_date('period_start') }} as period_start_date,
    cast(calls as bigint) as calls,
    cast(js_errors as bigint) as js_errors,
    cast(js_errors_per_call as double precision) as js_errors_per_call,
    cast(fetch_errors as bigint) as fetch_errors,
    cast(fetch_errors_per_call as double precision) as fetch_errors_per_call,
    cast(average_page_load as double precision) as average_page_load_seconds
from {{ landed('plumvoice', 'plumvoice_performance') }} as landed
