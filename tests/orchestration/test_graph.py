"""The orchestrator's asset graph, read from the project's real dbt manifest: every dbt node is an asset with its
dbt dependencies, the landers produce the raw tables the models read, the Python steps sit where `make run` runs
them, the checks are the dbt tests and the GX suites; and the sensors' decisions, on real files."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, build_sensor_context

from core.settings import Settings
from orchestration import dbt_graph, sensors
from orchestration.__main__ import main as orchestration_cli
from orchestration.definitions import build_definitions
from tests.support.data import REAL_DATA, REAL_SCORE_BATCHES, require_real
from tests.support.orchestration import orchestrator_env


@pytest.fixture(scope="module")
def orchestrated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("orchestrated")
    with pytest.MonkeyPatch.context() as env:
        settings = orchestrator_env(env, folder)
        definitions = build_definitions(settings)
    manifest = json.loads(dbt_graph.manifest_path(settings).read_text())
    return settings, definitions, manifest


def test_every_dbt_model_and_seed_is_an_asset_with_its_dbt_parents(orchestrated):
    _, definitions, manifest = orchestrated
    graph = definitions.resolve_asset_graph()
    keys = set(graph.get_all_asset_keys())
    nodes = {uid: node for uid, node in manifest["nodes"].items() if node["resource_type"] in ("model", "seed")}
    assert len(nodes) >= 30  # every model and seed of the project
    for uid, node in nodes.items():
        key = AssetKey(node["name"])
        assert key in keys, node["name"]
        parents = graph.get(key).parent_keys
        for parent in manifest["parent_map"][uid]:
            parent_node = manifest["nodes"].get(parent) or manifest["sources"][parent]
            expected = (
                dbt_graph.raw_asset_key(parent_node["name"])
                if parent_node["resource_type"] == "source"
                else AssetKey(parent_node["name"])
            )
            assert expected in parents, (node["name"], parent)


def test_the_landers_python_steps_and_checks_sit_where_make_run_runs_them(orchestrated):
    _, definitions, manifest = orchestrated
    graph = definitions.resolve_asset_graph()
    sources = {source["name"] for source in manifest["sources"].values()} - {"landed_files"}
    for table in sources:  # every raw table a model reads is produced by a lander
        assert graph.get(dbt_graph.raw_asset_key(table)).is_materializable, table
    assert AssetKey("interest_model") in graph.get(AssetKey("user_interest_scores")).parent_keys
    assert AssetKey("int_text_embeddings") in graph.get(AssetKey("interest_model")).parent_keys
    assert {AssetKey("search_chunks"), AssetKey("user_interest_scores")} <= graph.get(
        AssetKey("published_index")
    ).parent_keys
    # score batches are partitions, from the raw batches to the marts; the document side is not partitioned
    assert graph.get(dbt_graph.raw_asset_key("score_batches")).partitions_def is not None
    assert graph.get(AssetKey("percentile_history")).partitions_def is not None
    assert graph.get(AssetKey("document_chunks")).partitions_def is None
    checks = {key.name for key in graph.asset_check_keys}
    tests = [node for node in manifest["nodes"].values() if node["resource_type"] == "test"]
    assert len([key for key in graph.asset_check_keys if key.name != "great_expectations"]) >= len(tests) * 0.9
    assert "great_expectations" in checks
    assert dbt_graph.raw_asset_key("score_batches") in {
        key.asset_key for key in graph.asset_check_keys if key.name == "great_expectations"
    }


def test_batches_run_in_order_each_after_the_one_before():
    assert sensors.next_batches(set(), [0, 1, 2]) == ([0, 1, 2], [])
    assert sensors.next_batches({0, 1}, [0, 1, 2, 3]) == ([2, 3], [])
    assert sensors.next_batches({0, 1}, [0, 1, 3, 4]) == ([], [3, 4])  # batch 2 has not arrived
    assert sensors.next_batches({0, 1, 2}, [0, 1, 2]) == ([], [])


def test_a_lost_connection_is_retried_a_refusal_is_not():
    assert dbt_graph.transient("server closed the connection unexpectedly")
    assert dbt_graph.transient('connection to server at "127.0.0.1", port 5432 failed: Connection refused')
    assert dbt_graph.transient("FATAL: the database system is starting up")
    assert not dbt_graph.transient("Failure in test not_null_scores_id (models/marts/scores/_scores__models.yml)")


def test_a_dbt_failure_is_told_in_one_line_naming_the_node():
    # dagster-dbt's message: the command, then dbt's log of the failure, coloured (as a run on a fresh warehouse
    # printed it before the corpus views were part of a document's run)
    message = (
        "The dbt CLI process with command\n\n`dbt-runner build --select int_text_units`\n\nfailed with exit code `1`."
        "\n\nErrors parsed from dbt logs:\n\n21 of 64 ERROR creating sql view model main.int_text_units ... "
        "[\x1b[31mERROR\x1b[0m in 0.03s]\n\n\x1b[31mFailure in model int_text_units "
        "(models/intermediate/text/int_text_units.sql)\x1b[0m\n\n  Runtime Error in model int_text_units "
        "(models/intermediate/text/int_text_units.sql)\n  Catalog Error: Table with name stg_corpus_passages does "
        'not exist!\n  Did you mean "stg_document_pages"?\n  \n  LINE 17:     select * from "stg_corpus_passages"\n'
        "                             ^\n"
    )
    assert dbt_graph.failure_line(message) == (
        "int_text_units: Catalog Error: Table with name stg_corpus_passages does not exist!"
    )
    failed_test = (
        "Errors parsed from dbt logs:\n\nFailure in test not_null_scores_id (models/marts/x.yml)\n  Got 2 results"
    )
    assert dbt_graph.failure_line(failed_test) == "not_null_scores_id: Got 2 results"


def test_a_folder_run_builds_what_its_models_read_and_no_other_lander(orchestrated):
    _, definitions, _ = orchestrated
    graph = definitions.resolve_asset_graph()
    selected = definitions.resolve_sensor_def("documents_changed").asset_selection.resolve(graph)
    names = {"/".join(key.path) for key in selected}
    # the document's chunks to the served index, with the corpus view beside them (a fresh warehouse has none)
    assert {"raw/document_texts", "document_chunks", "search_chunks", "published_index"} <= names
    assert "stg_corpus_passages" in names
    assert not names & {"raw/corpus_passages", "raw/users", "raw/score_batches", "percentile_history", "scores"}


def test_the_score_sensor_asks_for_each_new_real_batch_once(orchestrated, tmp_path: Path):
    require_real(REAL_SCORE_BATCHES)
    settings, definitions, _ = orchestrated
    folder = settings.data_dir / "score_batches"
    folder.mkdir(exist_ok=True)
    instance = DagsterInstance.ephemeral()
    sensor = definitions.resolve_sensor_def("score_batches_arrived")
    platform = definitions.resources["platform"]

    def tick():
        with build_sensor_context(instance=instance, resources={"platform": platform}) as context:
            result = sensor(context)
        if not hasattr(result, "run_requests"):
            return []
        for request in result.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        return [request.partition_key for request in result.run_requests]

    for name in ("batch_0.json", "batch_1.json", "batch_3.json"):
        shutil.copy(REAL_SCORE_BATCHES / name, folder / name)
    old = time.time() - 10
    for path in folder.iterdir():
        os.utime(path, (old, old))
    assert tick() == ["0", "1"]  # batch 3 waits for batch 2
    assert tick() == []  # asked once
    shutil.copy(REAL_SCORE_BATCHES / "batch_2.json", folder / "batch_2.json")
    assert tick() == []  # still being written, as far as the sensor can tell
    os.utime(folder / "batch_2.json", (old, old))
    assert tick() == ["2", "3"]
    assert instance.get_dynamic_partitions("score_batches") == ["0", "1", "2", "3"]


def test_a_document_waits_for_both_of_its_files(tmp_path: Path):
    texts = tmp_path / "texts_12345.json"
    shutil.copy(REAL_DATA / "documents" / "texts_12345.json", texts)
    assert sensors.incomplete_documents([texts]) == ["12345"]
    pages = tmp_path / "pages_12345.csv"
    shutil.copy(REAL_DATA / "documents" / "pages_12345.csv", pages)
    assert sensors.incomplete_documents([texts, pages]) == []


def test_a_batch_run_is_checked_by_dbt_tests_and_the_nightly_audit_by_gx(orchestrated):
    _, definitions, _ = orchestrated
    score_job = definitions.resolve_job_def("score_batches_job")
    checks = score_job.asset_layer.asset_graph.asset_check_keys
    assert checks and all(key.name != "great_expectations" for key in checks)
    audit = definitions.resolve_schedule_def("nightly_audit")
    assert audit.cron_schedule == "0 2 * * *"
    audited = definitions.resolve_job_def(audit.job_name).asset_layer.asset_graph.asset_check_keys
    assert {key.name for key in audited} == {"great_expectations"}


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ORCHESTRATOR_PORT", "3k", "ORCHESTRATOR_PORT='3k': expected a TCP port number (1-65535)"),
        ("ORCHESTRATOR_PORT", "70000", "ORCHESTRATOR_PORT='70000': expected a TCP port number (1-65535)"),
        ("ORCHESTRATOR_STORAGE", "mysql", "ORCHESTRATOR_STORAGE='mysql': expected one of sqlite, postgres"),
        ("PGPORT", "five", "PGPORT='five': expected a TCP port number (1-65535)"),
    ],
)
def test_a_bad_orchestrator_setting_is_refused_in_one_line(monkeypatch, variable, value, message):
    monkeypatch.setenv("PGHOST", "127.0.0.1")  # PGPORT is read with PGHOST
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError) as refused:
        Settings.from_env()
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("batches", "message"),
    [
        (["3", "1"], "[orchestrator] error: backfill 3..1: the first batch comes after the last"),
        (["1", "2"], "[orchestrator] error: the orchestrator is not running: `make orchestrate` first"),
    ],
)
def test_a_backfill_that_cannot_run_is_refused_in_one_line(monkeypatch, tmp_path, capsys, batches, message):
    orchestrator_env(monkeypatch, tmp_path)
    assert orchestration_cli(["backfill", *batches]) == 1
    assert capsys.readouterr().err.strip() == message
