"""Write plugins/ lock files for the loaders, so `meltano install` never needs Meltano Hub.

No machine of ours reaches the Hub, so each lock is built from the plugin itself:
target-postgres and target-snowflake from their own `--about --format json`; target-duckdb
(not an SDK target, no --about) from the config keys its source reads. Run after
`meltano install` when a pinned version changes: `python scripts/write_plugin_locks.py`.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: target-duckdb 0.8.0's settings, as its source reads them.
DUCKDB_SETTINGS = [
    ("filepath", "string", "Path of the DuckDB database file."),
    ("default_target_schema", "string", "Schema the tables are created in."),
    ("schema_mapping", "object", "Per-source-schema target schemas."),
    ("batch_size_rows", "integer", "Rows per flushed batch."),
    ("flush_all_streams", "boolean", "Flush every stream when one batch is full."),
    ("add_metadata_columns", "boolean", "Add _sdc_ metadata columns."),
    ("hard_delete", "boolean", "Delete rows marked _sdc_deleted_at."),
    ("primary_key_required", "boolean", "Refuse streams without primary keys."),
    ("validate_records", "boolean", "Validate records against their schema."),
    ("temp_dir", "string", "Folder for temporary batch files."),
    ("delimiter", "string", "CSV delimiter of batch files."),
    ("quotechar", "string", "CSV quote character of batch files."),
    ("token", "password", "MotherDuck token."),
]


#: target-postgres's secrets: its --about marks none, and `meltano config` must redact them.
POSTGRES_SECRETS = {
    "password",
    "sqlalchemy_url",  # may embed the password
    "ssl_client_private_key",
    "ssh_tunnel.private_key",
    "ssh_tunnel.private_key_password",
}


#: target-snowflake's secrets: its --about marks only private_key and oauth_access_token.
SNOWFLAKE_SECRETS = {"password", "private_key", "private_key_passphrase", "oauth_access_token"}


def kind(schema: dict) -> str:
    """Meltano's kind for a loader setting's JSON schema. Not the tap's mapping
    (sync_meltano_settings.kind), which passes integers and booleans as strings for the
    tap to parse: an SDK target wants them typed."""
    types = schema.get("type", "string")
    types = [types] if isinstance(types, str) else types
    for name in ("array", "object", "boolean", "integer"):
        if name in types:
            return name
    return "decimal" if "number" in types else "string"


def setting(name: str, kind_: str, description: str) -> dict:
    entry = {"name": name, "kind": kind_, "description": description}
    if kind_ == "password":
        entry["sensitive"] = True
    return entry


def postgres_settings(about: dict) -> list[dict]:
    """--about's settings; ssh_tunnel's are dotted, for TARGET_POSTGRES_SSH_TUNNEL_HOST etc."""
    settings = []
    for name, schema in about["settings"]["properties"].items():
        fields = {name: schema}
        if name == "ssh_tunnel":
            fields = {f"{name}.{key}": child for key, child in schema["properties"].items()}
        for field, field_schema in fields.items():
            kind_ = "password" if field in POSTGRES_SECRETS else kind(field_schema)
            settings.append(setting(field, kind_, field_schema.get("description", "").strip()))
    return settings


def about_of(loader: str) -> dict:
    executable = REPO / f".meltano/loaders/{loader}/venv/bin/{loader}"
    return json.loads(
        subprocess.run(
            [str(executable), "--about", "--format", "json"], capture_output=True, check=True
        ).stdout
    )


def postgres_lock() -> dict:
    about = about_of("target-postgres")
    return {
        "plugin_type": "loaders",
        "name": "target-postgres",
        "namespace": "target_postgres",
        "variant": "meltanolabs",
        "label": "Postgres",
        "docs": "https://hub.meltano.com/loaders/target-postgres--meltanolabs",
        "repo": "https://github.com/MeltanoLabs/target-postgres",
        "pip_url": "meltanolabs-target-postgres==0.8.1",
        "executable": "target-postgres",
        "description": about.get("description", "PostgreSQL database loader"),
        "capabilities": sorted(about["capabilities"]),
        "settings": postgres_settings(about),
    }


def duckdb_lock() -> dict:
    return {
        "plugin_type": "loaders",
        "name": "target-duckdb",
        "namespace": "target_duckdb",
        "variant": "jwills",
        "label": "DuckDB",
        "docs": "https://hub.meltano.com/loaders/target-duckdb--jwills",
        "repo": "https://github.com/jwills/target-duckdb",
        # duckdb >= 1.3 silently drops the first row of every batch with this target.
        "pip_url": "target-duckdb==0.8.0 duckdb<1.3",
        "executable": "target-duckdb",
        "description": "DuckDB loader",
        "settings": [setting(*row) for row in DUCKDB_SETTINGS],
    }


def snowflake_lock() -> dict:
    about = about_of("target-snowflake")
    settings = []
    for name, schema in about["settings"]["properties"].items():
        kind_ = "password" if name in SNOWFLAKE_SECRETS else kind(schema)
        settings.append(setting(name, kind_, schema.get("description", "").strip()))
    return {
        "plugin_type": "loaders",
        "name": "target-snowflake",
        "namespace": "target_snowflake",
        "variant": "meltanolabs",
        "label": "Snowflake",
        "docs": "https://hub.meltano.com/loaders/target-snowflake--meltanolabs",
        "repo": "https://github.com/MeltanoLabs/target-snowflake",
        "pip_url": "meltanolabs-target-snowflake==0.20.4",
        "executable": "target-snowflake",
        "description": about.get("description", "Snowflake loader"),
        "capabilities": sorted(about["capabilities"]),
        "settings": settings,
    }


def main() -> None:
    for lock in (duckdb_lock(), postgres_lock(), snowflake_lock()):
        path = REPO / "plugins" / "loaders" / f"{lock['name']}--{lock['variant']}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(lock, indent=2) + "\n")
        print(path.relative_to(REPO))


if __name__ == "__main__":
    main()
