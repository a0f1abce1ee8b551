"""meltano.yml declares exactly the tap's settings: rerun scripts/sync_meltano_settings.py."""

from __future__ import annotations

import json
import subprocess
import sys

from ruamel.yaml import YAML

from tap_perfreports.vendors import VENDORS
from tests.helpers import REPO

SCRIPT = REPO / "scripts" / "sync_meltano_settings.py"


def test_meltano_yml_settings_are_current():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_every_secret_is_sensitive_and_every_vendor_is_wired():
    """A secret must be `sensitive` (else `meltano config` prints it); a new vendor needs its
    empty object in dev, and its own extractor and job (hand-written: the script adds none)."""
    about = json.loads(
        subprocess.run(
            [sys.executable, "-m", "tap_perfreports", "--about", "--format", "json"],
            capture_output=True,
            check=True,
            text=True,
        ).stdout
    )
    project = YAML(typ="safe").load((REPO / "meltano.yml").read_text())
    tap = next(p for p in project["plugins"]["extractors"] if p["name"] == "tap-perfreports")
    declared = {s["name"]: s for s in tap["settings"]}
    vendors = {vendor.key for vendor in VENDORS} & set(about["settings"]["properties"])
    assert "infinity" in vendors
    for vendor in vendors:
        for child, schema in about["settings"]["properties"][vendor]["properties"].items():
            setting = declared[f"{vendor}.{child}"]
            assert setting.get("sensitive", False) is bool(schema.get("secret")), setting["name"]
            if schema.get("secret"):
                assert setting["kind"] == "password"
    dev = next(e for e in project["environments"] if e["name"] == "dev")
    extractors = dev["config"]["plugins"]["extractors"]
    config = next(p["config"] for p in extractors if p["name"] == "tap-perfreports")
    assert config["sandbox"] is True
    assert {vendor: config.get(vendor) for vendor in vendors} == {key: {} for key in vendors}
    selects = {
        p["select"][0]: p["name"]
        for p in project["plugins"]["extractors"]
        if p.get("inherit_from") == "tap-perfreports"
    }
    jobs = {job["name"]: job["tasks"] for job in project["jobs"]}
    for vendor in vendors:
        extractor = selects[f"{vendor}_*.*"]
        assert jobs[vendor] == [f"{extractor} target-postgres"]


def test_loader_secrets_are_sensitive():
    """target-postgres's --about marks no secret: the lock writer must, or Meltano prints them."""
    for lock in (REPO / "plugins" / "loaders").glob("*.lock"):
        settings = {s["name"]: s for s in json.loads(lock.read_text())["settings"]}
        for name in {"password", "token", "sqlalchemy_url"} & set(settings):
            assert settings[name].get("sensitive") is True, f"{lock.name}: {name}"
