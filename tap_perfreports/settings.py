"""From the config to each vendor's resolved settings (`VendorConfig`), checked before any
request: every mistake is one `ConfigError` that names the setting and the rule."""

from __future__ import annotations

import datetime as dt
import difflib
import json
import logging
import typing as t
from urllib.parse import urlsplit

from tap_perfreports.errors import ConfigError
from tap_perfreports.shards import parse_shard
from tap_perfreports.vendor import VendorConfig
from tap_perfreports.windows import latest_complete_day

if t.TYPE_CHECKING:
    from tap_perfreports.run_state import RunState
    from tap_perfreports.vendor import Vendor

logger = logging.getLogger("tap-perfreports")

#: How far back the sandbox extracts when no start_date is given.
SANDBOX_DEFAULT_DAYS = 30


def parse_typed_strings(config: dict[str, t.Any], schema: t.Mapping[str, t.Any]) -> dict:
    """Settings typed as integer, boolean, array or object that arrive as text (Meltano's
    environment variables, or a `string` kind chosen so that Meltano passes what the user
    typed) are read as JSON; text that is not JSON of the right type stays text, so the
    schema check names the setting and shows what was typed."""
    parsed = {}
    properties = schema.get("properties", {})
    for name, given in config.items():
        spec = properties.get(name, {})
        types = spec.get("type", [])
        types = [types] if isinstance(types, str) else types
        value = given
        if isinstance(value, str) and {"integer", "boolean", "array", "object"} & set(types):
            value = _json_of_type(value, types)
        if isinstance(value, dict) and "object" in types:
            value = parse_typed_strings(value, spec)
        parsed[name] = value
    return parsed


def _json_of_type(text: str, types: list[str]) -> t.Any:
    if "boolean" in types and text.strip().lower() in ("true", "false"):
        return text.strip().lower() == "true"
    try:
        value = json.loads(text)
    except ValueError:
        return text
    kinds = {
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "array": isinstance(value, list),
        "object": isinstance(value, dict),
    }
    return value if any(kinds.get(kind) for kind in types) else text


def resolve_vendors(
    config: t.Mapping[str, t.Any],
    vendors: t.Sequence[Vendor],
    *,
    schema: t.Mapping[str, t.Any],
    now: dt.datetime,
    sandbox_url: t.Callable[[str], str],
    sandbox_settings: t.Callable[[str], t.Mapping[str, t.Any]],
    run: RunState,
) -> list[VendorConfig]:
    """Each configured vendor's settings, with defaults, dates and URL resolved.

    `schema` is the whole config schema the SDK validates (to name unknown settings),
    With `sandbox: true`, `sandbox_settings` gives a vendor's sandbox credentials and
    `sandbox_url` its API's URL in the embedded sandbox, which it starts when first asked.
    """
    reject_unknown_settings(config, schema)
    sandbox = bool(config.get("sandbox"))
    end = date_setting(config, "end_date")
    start = date_setting(config, "start_date")
    if start is None and not sandbox:
        raise ConfigError("start_date", "required (a date such as 2024-01-31)")
    if start is not None and start > now.date():
        raise ConfigError("start_date", f"{start} is in the future")
    if start is not None and end is not None and end < start:
        raise ConfigError("end_date", f"{end} is before start_date {start}")
    check_vendor_objects(config, vendors)
    configured = [vendor for vendor in vendors if vendor.key in config]
    if not configured:
        names = ", ".join(vendor.key for vendor in vendors)
        raise ConfigError(
            "config",
            f"no vendor is configured: add at least one of {names} "
            "(an empty object {} takes that vendor's defaults)",
        )
    return [
        _resolve(
            vendor,
            dict(config[vendor.key]),
            start=start,
            end=end,
            now=now,
            sandbox=sandbox,
            sandbox_url=sandbox_url,
            sandbox_settings=sandbox_settings,
            run=run,
        )
        for vendor in configured
    ]


def check_vendor_objects(config: t.Mapping[str, t.Any], vendors: t.Sequence[Vendor]) -> None:
    """A vendor's settings are an object; anything else (null included) is a mistake to
    name before the SDK's schema check trips over it."""
    for vendor in vendors:
        if vendor.key in config and not isinstance(config[vendor.key], dict):
            raise ConfigError(
                vendor.key,
                f"must be an object of settings ({{}} for the defaults), not "
                f"{json.dumps(config[vendor.key])[:40]}; leave it out to skip this vendor",
            )


def check_shards_offered(config: t.Mapping[str, t.Any], vendors: t.Sequence[Vendor]) -> None:
    """A vendor without partitions (Mintegral: one account) has nothing to shard: say so,
    rather than the schema's "unexpected property"."""
    for vendor in vendors:
        settings = config.get(vendor.key)
        if vendor.partitioned_by is None and isinstance(settings, dict) and "shard" in settings:
            raise ConfigError(
                f"{vendor.key}.shard",
                f"the {vendor.title} has no partitions to split between shards (it reports "
                "on the whole account): leave shard out and extract it in one extractor",
            )


def _resolve(
    vendor: Vendor,
    settings: dict[str, t.Any],
    *,
    start: dt.date | None,
    end: dt.date | None,
    now: dt.datetime,
    sandbox: bool,
    sandbox_url: t.Callable[[str], str],
    sandbox_settings: t.Callable[[str], t.Mapping[str, t.Any]],
    run: RunState,
) -> VendorConfig:
    # The SDK fills in the documented default, so only another URL is a choice.
    explicit_url = settings.get("api_url")
    if explicit_url == vendor.api_url:
        explicit_url = None
    if explicit_url is not None:
        check_url(f"{vendor.key}.api_url", str(explicit_url))
    shard = parse_shard(f"{vendor.key}.shard", settings.get("shard"))
    if sandbox:
        settings = {**sandbox_settings(vendor.key), **settings}
    validate_vendor(vendor, settings)
    latest = (
        vendor.default_end_date(now, settings)
        if vendor.default_end_date
        else latest_complete_day(now)
    )
    last = vendor.last_day_served(now, settings) if vendor.last_day_served else latest
    vendor_end = latest if end is None else min(end, last)
    if end is not None and end > last:
        logger.warning(
            "%s: end_date %s is after its latest %s day, %s: extracting up to %s "
            "(a later day is not over or not final yet)",
            vendor.title,
            end,
            "complete" if last == latest else "served",
            last,
            last,
        )
    vendor_start = start or vendor_end - dt.timedelta(days=SANDBOX_DEFAULT_DAYS - 1)
    earliest = vendor.earliest_day(now, settings) if vendor.earliest_day else None
    if earliest is not None and vendor_end < earliest:
        raise ConfigError(
            "end_date" if end else "start_date",
            f"the {vendor.title} serves days from {earliest} only (its history "
            f"limit), and {vendor_start}..{vendor_end} is wholly older",
        )
    if sandbox and not explicit_url:
        api_url = sandbox_url(vendor.key)
    else:
        api_url = str(explicit_url or vendor.api_url)
    lookback = settings.get("lookback_days")
    concurrency = settings.get("max_concurrent_requests")
    if concurrency is None:
        concurrency = vendor.max_concurrent_requests or 1
    return VendorConfig(
        key=vendor.key,
        settings=settings,
        api_url=api_url.rstrip("/"),
        lookback_days=vendor.lookback_days if lookback is None else int(lookback),
        start_date=vendor_start,
        end_date=vendor_end,
        latest_day=latest,
        sandbox=sandbox,
        max_concurrent_requests=int(concurrency),
        shard=shard,
        run=run,
    )


def reject_unknown_settings(config: t.Mapping[str, t.Any], schema: t.Mapping[str, t.Any]) -> None:
    """A misspelt vendor key would silently extract nothing: name it instead."""
    known = set(schema.get("properties", {}))
    for name in config:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(name, f"unknown setting{hint}")


def check_url(setting: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(setting, f"{url!r:.60} is not an http(s) URL")


def validate_vendor(vendor: Vendor, settings: t.Mapping[str, t.Any]) -> None:
    """The rules JSON schema cannot say: the vendor's login (sandbox mode fills it in
    after the schema check), the vendor's own rules, then every vendor's lists: an empty
    list is a mistake, never "all" or "none", and a value listed twice would be extracted,
    and land, twice."""
    for name in vendor.login:
        if not settings.get(name):
            raise ConfigError(f"{vendor.key}.{name}", f"required ({vendor.login_hint})")
    vendor.validate(settings)
    for name, value in settings.items():
        if not isinstance(value, list):
            continue
        if not value:
            raise ConfigError(
                f"{vendor.key}.{name}",
                "is empty: leave it out for the default, or list at least one",
            )
        repeated = first_repeated(value)
        if repeated is not None:
            raise ConfigError(f"{vendor.key}.{name}", f"{repeated} is listed twice")


def first_repeated(values: list[t.Any]) -> str | None:
    """The first value listed twice, as the user would read it (objects by their name)."""
    seen: set[str] = set()
    for value in values:
        shown = (
            f"name {value.get('name')!r}"
            if isinstance(value, dict)
            else json.dumps(value)
            if not isinstance(value, str)
            else repr(value)
        )
        if shown in seen:
            return shown
        seen.add(shown)
    return None


def date_setting(config: t.Mapping[str, t.Any], name: str) -> dt.date | None:
    value = config.get(name)
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise ConfigError(name, f"{value!r} is not a date (YYYY-MM-DD)") from None
