-- perfreports_daily never counts a measure twice: for each vendor, each measure comes from
-- one source stream only. Fails with the vendor, measure and streams otherwise.
with measures as (
    {% for measure in ['impressions', 'clicks', 'conversions', 'calls', 'revenue', 'spend'] %}
    select vendor, '{{ measure }}' as measure, source_stream
    from {{ ref('perfreports_daily') }}
    where {{ measure }} is not null
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select vendor, measure, count(distinct source_stream) as streams
from measures
group by vendor, measure
having count(distinct source_stream) > 1
