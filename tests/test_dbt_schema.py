"""The dbt project follows the tap's schemas: transform/models/staging/schema.yml is what
scripts/sync_dbt_schema.py writes from `--discover`, a change in the tap fails it with a
line naming what to do, and every staging model's SQL selects the documented columns."""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import re
import subprocess
import sys
import typing as t

import pytest
import yaml

from tests.helpers import REPO

SCRIPT = REPO / "scripts" / "sync_dbt_schema.py"
STAGING = REPO / "transform" / "models" / "staging"


@pytest.fixture(scope="module")
def sync() -> t.Any:
    spec = importlib.util.spec_from_file_location("sync_dbt_schema", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["sync_dbt_schema"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def catalog(sync: t.Any) -> list[dict[str, t.Any]]:
    return sync.discover()


@pytest.fixture(scope="module")
def schema_yml() -> dict[str, t.Any]:
    return yaml.safe_load((STAGING / "schema.yml").read_text())


def test_schema_yml_is_current():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_models_follow_each_streams_columns_types_and_key(
    catalog: list[dict[str, t.Any]], schema_yml: dict[str, t.Any], sync: t.Any
):
    """Each default stream has a model whose landed columns, types and key come from it."""
    models = {m["name"]: m for m in schema_yml["models"]}
    sources = {
        table["name"]: table for source in schema_yml["sources"] for table in source["tables"]
    }
    assert {s["tap_stream_id"] for s in catalog} == set(sources) == set(sync.STREAMS)
    for stream in catalog:
        name = stream["tap_stream_id"]
        spec = sync.STREAMS[name]
        model = models[spec.model]
        staging_of = {c.landed: c.name for c in spec.columns if c.landed}
        properties = stream["schema"]["properties"]
        landed = {c["name"]: c for c in sources[name]["columns"]}
        assert list(landed) == list(properties)
        columns = {c["name"]: c for c in model["columns"]}
        for column, schema in properties.items():
            types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            expected = {
                "integer": "bigint",
                "number": "double precision",
                "boolean": "boolean",
            }.get(next(t_ for t_ in types if t_ != "null"))
            if expected is None:
                expected = {"date": "date", "date-time": "timestamp"}.get(
                    schema.get("format"), "varchar"
                )
            assert landed[column]["data_type"] == expected, (name, column)
            assert columns[staging_of[column]]["data_type"] == expected, (name, column)
            if schema.get("description"):
                assert columns[staging_of[column]]["description"].startswith(
                    " ".join(schema["description"].split())
                ), (name, column)
            assert columns[staging_of[column]]["description"], (name, column)
        key = [staging_of[k] for k in stream["key_properties"]]
        assert model["data_tests"] == [
            {"unique_combination_of_columns": {"arguments": {"combination_of_columns": key}}}
        ]
        for column in key:
            assert "not_null" in columns[column]["data_tests"], (name, column)
        assert model["config"] == {"contract": {"enforced": True}}


def test_accepted_values_where_the_docs_fix_them(schema_yml: dict[str, t.Any]):
    def accepted(model: str, column: str) -> list[str]:
        found = next(m for m in schema_yml["models"] if m["name"] == model)
        tests = next(c for c in found["columns"] if c["name"] == column)["data_tests"]
        values = (
            t_["accepted_values"]["arguments"]["values"] for t_ in tests if "accepted_values" in t_
        )
        return next(values)

    assert accepted("stg_plumvoice__performance", "period") == ["day", "week", "month"]
    for model in ("steps", "recipes", "engagement"):
        assert accepted(f"stg_adobe_target__{model}", "metric_type") == [
            "visit",
            "visitor",
            "impression",
        ]
    assert accepted("stg_mintegral__performance", "currency") == ["USD", "CNY"]


def test_a_new_or_dropped_column_or_stream_is_named(catalog: list[dict[str, t.Any]], sync: t.Any):
    changed = copy.deepcopy(catalog)
    ads = next(s for s in changed if s["tap_stream_id"] == "citygrid_ads")
    ads["schema"]["properties"]["viewable_impressions"] = {"type": ["integer", "null"]}
    del ads["schema"]["properties"]["coverage"]
    extra = copy.deepcopy(ads)
    extra["tap_stream_id"] = "citygrid_calls"
    changed.append(extra)
    with pytest.raises(sync.Drift) as drift:
        sync.build(changed)
    lines = str(drift.value).splitlines()
    assert "stream citygrid_calls has no staging model: add it to STREAMS" in lines
    assert "citygrid_ads.viewable_impressions has no staging column: add it to STREAMS" in lines
    assert "citygrid_ads.coverage is no longer in the tap's schema: remove it" in lines
    # And the unchanged catalog builds.
    sync.build(catalog)


def test_an_undescribed_column_is_named(catalog: list[dict[str, t.Any]], sync: t.Any):
    """A column the tap does not describe needs a description in STREAMS."""
    changed = copy.deepcopy(catalog)
    plum = next(s for s in changed if s["tap_stream_id"] == "plumvoice_performance")
    assert not plum["schema"]["properties"]["calls"].get("description")
    spec = sync.STREAMS["plumvoice_performance"]
    undescribed = tuple(
        sync.Column(c.name, c.landed, None, c.type) if c.landed == "calls" else c
        for c in spec.columns
    )
    streams = {
        **sync.STREAMS,
        "plumvoice_performance": dataclasses.replace(spec, columns=undescribed),
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sync, "STREAMS", streams)
        with pytest.raises(sync.Drift, match=r"plumvoice_performance\.calls: no description"):
            sync.build(changed)


def test_each_staging_sql_selects_its_documented_columns(schema_yml: dict[str, t.Any]):
    """The enforced contracts check this at `dbt build`; here it fails in seconds."""
    models = {m["name"]: m for m in schema_yml["models"]}
    files = {path.stem: path for path in STAGING.glob("*.sql")}
    assert set(files) == set(models)
    for name, path in files.items():
        select_list = path.read_text().split("\nfrom ")[0]
        selected = re.findall(r"\bas (\w+),?\n", select_list + "\n")
        assert selected == [c["name"] for c in models[name]["columns"]], name
