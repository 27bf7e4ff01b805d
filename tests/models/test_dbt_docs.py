"""Every dbt resource and every column is described: the docs site (`dbt docs generate`) is only worth having if
nothing in it is blank.

The project is built on empty raw tables in a scratch warehouse (seconds: no data, every relation exists with
its real columns), then `dbt docs generate` writes `manifest.json` (what the YAML documents) and
`catalog.json` (the columns each relation really has). A failure lists every undocumented resource or column.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.warehouses import raw_warehouse

PROJECT = "ml_platform"
DOCUMENTED_TYPES = ("model", "seed", "snapshot")


@pytest.fixture(scope="module")
def docs(tmp_path_factory) -> tuple[dict, dict]:
    folder = tmp_path_factory.mktemp("dbt_docs")
    dbt = raw_warehouse(folder)  # every source table, empty
    dbt("build", "--resource-type", "seed", "--resource-type", "model", "--resource-type", "snapshot")
    dbt("docs", "generate")
    manifest = json.loads((folder / "target" / "manifest.json").read_text())
    catalog = json.loads((folder / "target" / "catalog.json").read_text())
    return manifest, catalog


def project_resources(manifest: dict) -> dict[str, dict]:
    """The project's models, seeds, snapshots and sources, by unique id (dbt packages' own are not ours)."""
    nodes = {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] in DOCUMENTED_TYPES and node["package_name"] == PROJECT
    }
    sources = {uid: node for uid, node in manifest["sources"].items() if node["package_name"] == PROJECT}
    return {**nodes, **sources}


def blank(text: str | None) -> bool:
    return not (text or "").strip()


def listing(problems: list[str]) -> str:
    return f"{len(problems)} undocumented:\n  " + "\n  ".join(problems)


def test_the_project_has_models_of_every_layer(docs):
    manifest, _ = docs
    paths = [node["original_file_path"] for node in project_resources(manifest).values()]
    for folder in ("models/staging/", "models/intermediate/", "models/marts/", "seeds/"):
        assert any(path.startswith(folder) for path in paths), f"nothing found under {folder}"
    assert any(path.startswith("models/") and path.endswith(".py") for path in paths), "no Python model in models/"
    assert any(node["resource_type"] == "source" for node in project_resources(manifest).values())


LAYER_PREFIXES = {"staging": "stg_", "intermediate": "int_", "marts": ""}  # model name prefixes per layer


def test_every_model_sits_in_its_layer_and_domain_beside_its_yaml(docs):
    """models/<layer>/<domain>/<model>, SQL and Python alike, a staging or intermediate model named for its
    layer, and the YAML describing it in the same folder: that folder's one _<domain>__models.yml."""
    manifest, _ = docs
    problems = []
    for uid, node in sorted(project_resources(manifest).items()):
        if node["resource_type"] != "model":
            continue
        path = Path(node["original_file_path"])
        if len(path.parts) != 4 or path.parts[0] != "models" or path.parts[1] not in LAYER_PREFIXES:
            problems.append(f"{uid}: {path} is not models/<layer>/<domain>/<file>")
            continue
        if not node["name"].startswith(LAYER_PREFIXES[path.parts[1]]):
            problems.append(f"{uid}: a {path.parts[1]} model is named {LAYER_PREFIXES[path.parts[1]]}<name>")
        yaml_path = (node.get("patch_path") or "").split("://")[-1]
        expected = path.parent / f"_{path.parts[2]}__models.yml"
        if Path(yaml_path) != expected:
            problems.append(f"{uid}: described in {yaml_path or 'no YAML'}, not in {expected}")
    assert not problems, "\n  ".join([f"{len(problems)} misplaced:", *problems])


def test_every_model_seed_snapshot_and_source_has_a_description(docs):
    manifest, _ = docs
    problems = []
    for uid, node in sorted(project_resources(manifest).items()):
        if blank(node["description"]):
            problems.append(f"{uid} ({node['original_file_path']}): no description")
        if node["resource_type"] == "source" and blank(node.get("source_description")):
            problems.append(f"{uid}: source '{node['source_name']}' has no description")
    assert not problems, listing(sorted(set(problems)))


def test_every_column_in_yaml_has_a_description(docs):
    manifest, _ = docs
    problems = [
        f"{uid}: column {name}"
        for uid, node in sorted(project_resources(manifest).items())
        for name, column in node["columns"].items()
        if blank(column.get("description"))
    ]
    assert not problems, listing(problems)


def built(catalog: dict) -> dict[str, dict]:
    return {**catalog["nodes"], **catalog["sources"]}


def built_resources(manifest: dict, catalog: dict) -> list[tuple[str, dict, dict]]:
    """(unique id, manifest node, catalog entry) of every project resource the build created."""
    relations = built(catalog)
    return [
        (uid, node, relations[uid]) for uid, node in sorted(project_resources(manifest).items()) if uid in relations
    ]


def test_every_resource_is_in_the_catalog(docs):
    """Otherwise its columns below would go unchecked."""
    manifest, catalog = docs
    assert not catalog.get("errors"), catalog["errors"]
    missing = [
        uid
        for uid, node in sorted(project_resources(manifest).items())
        if node["config"].get("materialized") != "ephemeral" and uid not in built(catalog)
    ]
    assert not missing, f"not built / not in catalog.json: {missing}"


def test_every_built_column_is_documented(docs):
    problems = []
    for uid, node, entry in built_resources(*docs):
        described = {name.lower(): column.get("description") for name, column in node["columns"].items()}
        for name in entry["columns"]:  # catalog order = the relation's column order
            if name.lower() not in described:
                problems.append(f"{uid} ({node['original_file_path']}): column {name} not in the YAML")
            elif blank(described[name.lower()]):
                problems.append(f"{uid} ({node['original_file_path']}): column {name} has no description")
    assert not problems, listing(problems)


def test_no_documented_column_is_missing_from_the_relation(docs):
    """A described column the relation no longer has is stale documentation."""
    problems = []
    for uid, node, entry in built_resources(*docs):
        actual = {name.lower() for name in entry["columns"]}
        problems += [
            f"{uid}: documented column {name} does not exist" for name in node["columns"] if name.lower() not in actual
        ]
    assert not problems, f"{len(problems)} stale:\n  " + "\n  ".join(problems)
