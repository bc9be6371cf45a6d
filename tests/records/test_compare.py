"""`mlspec compare` on real quick-start runs: tasks x platforms with labels, runs side by side, formats."""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlspec.cli import main
from mlspec.compare.plan_outcome import plan_outcome
from mlspec.compare.rows import platform_rows
from mlspec.compare.tables import _allowed_memory, compare_platforms, compare_runs, cross_cloud_egress, filter_names
from mlspec.providers import registry
from mlspec.records.model import FollowedPlan, InvocationRecord, PlannedStageRecord
from mlspec.records.runs import list_runs

REPO = Path(__file__).resolve().parents[2]
FAST = ["--set", "stages.train_images.epochs=1"]


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two real quick-start runs that differ by one `--set` value (train_reviews epochs 3 vs 4)."""
    root = tmp_path_factory.mktemp("compare") / "runs"
    for epochs in (3, 4):
        cmd = [
            sys.executable,
            "-m",
            "mlspec",
            "run",
            "examples/quickstart.yaml",
            "--runs-dir",
            str(root),
            "--json",
            "--no-cache",  # both runs measure every stage: the tables below price what ran
            *FAST,
            "--set",
            f"stages.train_reviews.epochs={epochs}",
        ]
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr[-3000:]
    return root


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["compare", *args])
    return result.exit_code, result.output


def test_json_has_every_task_on_every_platform_with_labels_and_model_error(runs_dir: Path) -> None:
    code, out = invoke("--runs-dir", str(runs_dir), "--format", "json")
    assert code == 0, out
    data = json.loads(out)
    assert data["view"] == "platforms"
    latest = list_runs(runs_dir)[-1].run_id
    assert data["run_id"] == latest
    catalog = {o.id for o in registry.all_offerings()}
    assert {p["id"] for p in data["platforms"]} == catalog
    assert {t["task"] for t in data["tasks"]} == {"train_images", "train_reviews"}
    for task in data["tasks"]:
        assert set(task["cells"]) == catalog
        assert 0.0 <= task["accuracy"]["value"] <= 1.0 and task["accuracy"]["label"] == "measured"
        assert task["fastest"] in catalog and task["cheapest"] in catalog
        assert not task["fastest"].startswith("local:") and not task["cheapest"].startswith("local:")
        for pid, cell in task["cells"].items():
            assert cell["label"] == ("measured" if pid == "local:process" else "modelled")
            assert cell["time_s"] > 0 and cell["cost_usd"] >= 0, (pid, cell)
            assert cell["problem"] is None
            if pid != "local:process":
                assert cell["cost_usd"] > 0
        local = task["cells"]["local:process"]
        assert isinstance(local["model_error_pct"], float)
        expected = 100 * (local["modelled_time_s"] - local["time_s"]) / local["time_s"]
        assert local["model_error_pct"] == pytest.approx(expected)
        assert set(local["stages"]) == set(task["stages"]) and len(task["stages"]) == 3
        # the measured time is the stages' recorded wall time
        assert local["time_s"] == pytest.approx(sum(s["time_s"] for s in local["stages"].values()))
    lambda_memory = next(p for p in data["platforms"] if p["id"] == "aws-lambda:x86_64")["memory_mb"]
    assert set(lambda_memory.values()) == {1769}
    assert any("1769 MB" in n and "aws-lambda:x86_64" in n for n in data["notes"])


def test_markdown_reproduces_the_papers_layout(runs_dir: Path) -> None:
    code, out = invoke("--runs-dir", str(runs_dir), "--format", "md")
    assert code == 0, out
    assert "## Training time per task (seconds)" in out and "## Training cost per task (USD)" in out
    catalog = [o.id for o in registry.all_offerings()]
    tables = [block for block in out.split("\n\n") if block.startswith("| task |")]
    time_table, cost_table = tables[0], tables[1]
    for table in (time_table, cost_table):
        lines = table.strip().splitlines()
        header = [c.strip() for c in lines[0].strip("|").split("|")]
        assert header[0] == "task"
        assert header[1 : 1 + len(catalog)] == [
            f"{p} ({'measured' if p.startswith('local') else 'modelled'})" for p in catalog
        ]
        rows = lines[2:]
        assert len(rows) == 2 and rows[0].startswith("| train_images") and rows[1].startswith("| train_reviews")
    assert "(fastest)" in time_table and "(cheapest)" in cost_table
    assert "accuracy (measured)" in time_table
    assert "model error" in out


def test_csv_is_long_format_one_row_per_task_and_platform(runs_dir: Path) -> None:
    code, out = invoke("--runs-dir", str(runs_dir), "--format", "csv", "--drop", "^local", "--keep", "aws|gcp|local")
    assert code == 0, out
    rows = list(csv.DictReader(io.StringIO(out)))
    platforms = {r["platform"] for r in rows}
    assert platforms == {
        "aws-ec2:m7i.xlarge",  # the serverful offering, a column like any platform's
        "aws-lambda:x86_64",
        "aws-lambda:arm64",
        "gcp-cloud-run:service",
        "gcp-cloud-run:job",
    }
    assert len(rows) == 2 * len(platforms) and {r["label"] for r in rows} == {"modelled"}


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.srcs: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            self.srcs.append(a.get("src") or "")
        for key in ("href", "src"):
            if tag in ("link", "script") and a.get(key):
                self.links.append(a[key] or "")


@pytest.mark.parametrize("view", ["platforms", "runs"])
def test_html_is_one_self_contained_file_with_embedded_plots(runs_dir: Path, tmp_path: Path, view: str) -> None:
    report = tmp_path / "report.html"
    code, out = invoke("--runs-dir", str(runs_dir), "--view", view, "--format", "html", "--output", str(report))
    assert code == 0, out
    text = report.read_text()
    parser = _Images()
    parser.feed(text)
    assert not parser.links  # no stylesheet or script to fetch
    assert len(parser.srcs) >= (3 if view == "platforms" else 1)
    for src in parser.srcs:
        assert src.startswith("data:image/png;base64,")
        png = base64.b64decode(src.split(",", 1)[1])
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert "http://" not in text and "https://" not in text
    if view == "platforms":
        assert "Training time per task" in text and "(fastest)" in text and "measured" in text


def test_only_changed_shows_exactly_the_changed_parameter_plus_metrics(runs_dir: Path) -> None:
    code, out = invoke("--runs-dir", str(runs_dir), "--view", "runs", "--format", "json")
    assert code == 0, out
    data = json.loads(out)
    assert data["view"] == "runs" and len(data["rows"]) == 2
    params = [c["name"] for c in data["columns"] if c["group"] == "param"]
    assert params == ["stages.train_reviews.epochs"]
    assert [r["stages.train_reviews.epochs"] for r in data["rows"]] == [3, 4]
    metrics = {c["name"] for c in data["columns"] if c["group"] == "metric"}
    assert {"eval_reviews.test_accuracy", "eval_images.test_accuracy", "train_reviews.test_loss"} <= metrics
    labels = {c["name"]: c["label"] for c in data["columns"]}
    assert labels["wall_s"] == "measured" and labels["cost_usd[aws-lambda:x86_64]"] == "modelled"
    assert all(r["cost_usd[aws-lambda:x86_64]"] > 0 for r in data["rows"])
    # the Markdown table says the same
    code, out = invoke("--runs-dir", str(runs_dir), "--view", "runs", "--format", "md")
    assert code == 0 and "stages.train_reviews.epochs" in out and "stages.train_images.epochs" not in out


def test_sort_keep_and_drop_apply_to_columns(runs_dir: Path) -> None:
    ids = [e.run_id for e in list_runs(runs_dir)]
    code, out = invoke(
        *ids,
        "--runs-dir",
        str(runs_dir),
        "--format",
        "csv",
        "--sort-by=-stages.train_reviews.epochs",
        "--keep",
        r"epochs$|test_accuracy$",
        "--drop",
        "^eval_",
        "--all",
    )
    assert code == 0, out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == [
        "run",
        "stages.train_images.epochs",
        "stages.train_reviews.epochs",
        "train_images.test_accuracy",
        "train_reviews.test_accuracy",
    ]
    assert [r["stages.train_reviews.epochs"] for r in rows] == ["4", "3"]
    code, out = invoke(*ids, "--runs-dir", str(runs_dir), "--sort-by", "no_such_column")
    assert code == 2 and "not a shown column" in out


def test_corrupt_runs_are_failed_with_a_reason_and_unknown_ids_exit_2(runs_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "runs"
    shutil.copytree(runs_dir, root)
    good = list_runs(root)[-1]
    (root / "29990101-000000-quickstart-dead").mkdir()  # no record: not a run, never listed
    half = root / "29990101-000001-quickstart-half"
    half.mkdir()
    (half / "record.json").write_text(good.path.joinpath("record.json").read_text()[:300])
    listed = CliRunner().invoke(main, ["runs", "list", "--runs-dir", str(root)])
    assert listed.exit_code == 0
    assert "quickstart-dead" not in listed.output and "corrupt" in listed.output
    # the latest readable run is still compared; the broken ones are named with the reason
    code, out = invoke("--runs-dir", str(root), "--format", "json")
    assert code == 0, out
    data = json.loads(out)
    assert data["run_id"] == good.run_id
    assert any("quickstart-half" in n and "corrupt" in n for n in data["notes"])
    code, out = invoke("--runs-dir", str(root), "--view", "runs", "--format", "json")
    assert code == 0 and len(json.loads(out)["rows"]) == 2
    code, out = invoke("nope", "--runs-dir", str(root))
    assert code == 2 and "unknown run 'nope'" in out
    code, out = invoke("29990101-000001-quickstart-half", "--runs-dir", str(root))
    assert code == 2 and "cannot be compared" in out and "corrupt" in out
    code, out = invoke("--runs-dir", str(tmp_path / "empty"))
    assert code == 2 and "no" in out


def test_plain_data_api_and_memory_choice(runs_dir: Path) -> None:
    records = [e.record for e in list_runs(runs_dir) if e.record is not None]
    cmp = compare_platforms(records[0], keep=["^aws-lambda:x86_64$", "^local"])
    assert [p.id for p in cmp.platforms] == ["aws-lambda:x86_64", "local:process"]
    assert cmp.measured_platform == "local:process"
    table = compare_runs(records, only_changed=True, platform="oracle-functions")
    assert any(c.name == "cost_usd[oracle-functions:default]" for c in table.columns)
    offerings = {o.id: o for o in registry.all_offerings()}
    assert _allowed_memory(offerings["aws-lambda:x86_64"], 1769) == (1769, False)
    assert _allowed_memory(offerings["azure-functions:consumption"], 2048) == (1536, True)
    assert _allowed_memory(offerings["oracle-functions:default"], 1769) == (2048, True)
    assert _allowed_memory(offerings["ibm-code-engine:app"], 3000) == (4096, True)
    assert filter_names(["a.x", "b.y", "run"], keep=["^a"], always=["run"]) == ["a.x", "run"]
    assert filter_names(["a.x", "b.y"], drop=[r"\.y$"]) == ["a.x"]


def test_cli_starts_without_matplotlib() -> None:
    code = "import sys, mlspec.cli; assert 'matplotlib' not in sys.modules and 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=60)


def _invocation(read: int, written: int) -> InvocationRecord:
    return InvocationRecord(
        id="prep#0",
        stage="prep",
        function="preprocess",
        target="aws-lambda",
        started_at=0.0,
        wall_s=1.0,
        cpu_s=None,
        peak_rss_mb=None,
        cold_start=False,
        status="ok",
        memory_limit_mb=1024,
        time_limit_s=60,
        io={"object_bytes_read": read, "object_bytes_written": written},
    )


def test_bytes_to_another_clouds_store_are_priced_as_egress_each_way() -> None:
    lam = registry.get_offering("aws-lambda:x86_64")
    invocations = [_invocation(2_000_000_000, 0), _invocation(0, 500_000_000)]
    gb, usd = cross_cloud_egress(lam, "gcs", invocations)
    gcs_out = registry.get_offering("gcp-cloud-run").cloud.egress_per_gb_usd.value
    aws_out = lam.cloud.egress_per_gb_usd.value
    assert gb == pytest.approx(2.5)
    assert usd == pytest.approx(2.0 * gcs_out + 0.5 * aws_out) and usd > 0
    assert cross_cloud_egress(lam, "s3", invocations) == (0.0, 0.0)  # its own cloud's store
    assert cross_cloud_egress(registry.get_offering("aws-ec2"), "s3", invocations) == (0.0, 0.0)  # AWS too
    assert cross_cloud_egress(registry.get_offering("aws-ec2"), "gcs", invocations) == (gb, usd)
    assert cross_cloud_egress(lam, "local", invocations) == (0.0, 0.0)


def test_a_lambda_run_on_a_gcs_store_has_egress_in_its_measured_cost_record_rewritten(runs_dir: Path) -> None:
    """No cloud can be reached here: a real quick-start record, relabelled as run on Lambda with a GCS store."""
    record = list_runs(runs_dir)[0].record
    assert record is not None
    record.target = "aws-lambda"
    for invocation in record.invocations:
        invocation.target = "aws-lambda"
    record.spec["storage"]["object_store"] = {"kind": "gcs", "bucket": "elsewhere"}
    crossed = compare_platforms(record, keep=["aws-lambda:x86_64"])
    record.spec["storage"]["object_store"] = {"kind": "s3", "bucket": "home"}
    at_home = compare_platforms(record, keep=["aws-lambda:x86_64"])
    for task, home in zip(crossed.tasks, at_home.tasks, strict=True):
        cell, home_cell = task.cells["aws-lambda:x86_64"], home.cells["aws-lambda:x86_64"]
        assert cell.label == "measured" and cell.cost_usd is not None and home_cell.cost_usd is not None
        egress = sum(s.get("egress_usd", 0.0) for s in cell.stages.values())
        assert egress > 0 and cell.cost_usd == pytest.approx(home_cell.cost_usd + egress)
        assert not any("egress_usd" in s for s in home_cell.stages.values())
    assert any(note.startswith("egress: the run's object store (gcs)") for note in crossed.notes)
    every = compare_platforms(record)
    priced_only = next(note for note in every.notes if note.startswith("priced only: "))
    assert "ibm-code-engine:app" in priced_only and "azure-functions:flex" in priced_only
    assert "aws-lambda:x86_64" not in priced_only


def test_a_run_on_a_ray_cluster_is_measured_there_and_priced_on_the_vm_offering(runs_dir: Path) -> None:
    """A real quick-start record, relabelled as run by the Ray executor (a serverful cluster on this host): its
    measured column says so, and each task's measured times are priced on EC2 by hand: each stage's
    invocations x their mean measured seconds, rounded up to the second with a 60 s minimum, x the vCPUs of
    the share the EC2 column gives it (4,096 MB per vCPU) x $0.2016 / 4 vCPU / 3,600 s."""
    record = list_runs(runs_dir)[0].record
    assert record is not None
    record.executor = "ray"
    data = compare_platforms(record)
    vm = registry.get_offering("aws-ec2")
    measured = next(p for p in data.platforms if p.measured)
    column = next(p for p in data.platforms if p.id == vm.id)  # the serverful column, as any platform's
    assert measured.id == "local:process" and measured.cluster == "ray" and column.label == "modelled"
    assert measured.caption == "measured on a ray cluster, serverful"
    for task in data.tasks:
        expected = 0.0
        for stage in task.stages:
            invocations = [i for i in record.invocations if i.stage == stage]
            seconds = sum(i.wall_s for i in invocations) / len(invocations)
            vcpu = column.memory_mb[stage] / 4096
            expected += len(invocations) * max(60, math.ceil(seconds)) * vcpu * 0.2016 / 4 / 3600
        cell = task.cells[measured.id]
        assert cell.label == "measured" and cell.cluster_cost_usd == pytest.approx(expected, rel=1e-9)
        assert task.cells[vm.id].cost_usd is not None and task.cells[vm.id].cost_usd > 0
    note = next(n for n in data.notes if n.startswith("serverful: "))
    assert f"run {record.run_id} ran on a ray cluster (serverful)" in note
    assert f"the serverful cost is {vm.id}'s price for those measured times" in note
    for what in ("time", "cost"):
        header, _ = platform_rows(data, what)  # type: ignore[arg-type]
        assert "local:process (measured on a ray cluster, serverful)" in header
        assert f"{vm.id} (modelled)" in header
    priced_only = next(n for n in data.notes if n.startswith("priced only: "))
    assert vm.id in priced_only
    record.executor = "local"  # this machine's processes: nothing to mark
    again = compare_platforms(record)
    assert not any(n.startswith("serverful: ") for n in again.notes)
    assert all(p.cluster is None for p in again.platforms)
    assert all(t.cells["local:process"].cluster_cost_usd is None for t in again.tasks)


def test_a_planned_run_across_two_clouds_prices_what_crossed_as_egress(runs_dir: Path) -> None:
    """A real quick-start record, relabelled as following a plan that puts each train stage on Cloud Run and
    the rest on Lambda: what a train stage read from its preprocess stage left AWS."""
    record = list_runs(runs_dir)[0].record
    assert record is not None
    trains = {name for name, stage in record.stages.items() if stage.kind == "train"}
    placed = {
        name: PlannedStageRecord(
            platform="gcp-cloud-run:service" if name in trains else "aws-lambda:x86_64",
            memory_mb=1024,
            vcpu=1.0 if name in trains else None,
            workers=stage.workers,
            time_s=10.0,
            cost_usd=0.001,
        )
        for name, stage in record.stages.items()
    }
    record.plan = FollowedPlan(file="plan.json", host="here", host_cores=2, stages=placed)
    rows = {row.stage: row for row in plan_outcome(record)}
    aws_out = registry.get_offering("aws-lambda:x86_64").cloud.egress_per_gb_usd.value
    gcp_out = registry.get_offering("gcp-cloud-run:service").cloud.egress_per_gb_usd.value
    for name, row in rows.items():
        read = sum(i.io.get("object_bytes_read", 0) for i in record.invocations if i.stage == name) / 1e9
        if name in trains:  # read its preprocess stage's output, on AWS
            assert read > 0 and row.emulated_egress_gb == pytest.approx(read)
            assert row.emulated_egress_usd == pytest.approx(read * aws_out)
        elif record.spec["stages"][name].get("model") in trains:  # read a trained model, on Google Cloud
            assert read > 0 and row.emulated_egress_usd == pytest.approx(read * gcp_out)
        else:
            assert (row.emulated_egress_gb, row.emulated_egress_usd) == (0.0, 0.0)
    crossed = rows[next(iter(trains))]
    record.plan = FollowedPlan(
        file="plan.json",
        host="here",
        host_cores=2,
        stages={n: p.model_copy(update={"platform": "aws-lambda:x86_64", "vcpu": None}) for n, p in placed.items()},
    )
    home = {row.stage: row for row in plan_outcome(record)}[crossed.stage]
    assert crossed.emulated_cost_usd is not None and home.emulated_cost_usd is not None
    assert crossed.emulated_egress_usd is not None and home.emulated_egress_gb == 0.0
    assert crossed.to_dict()["labels"]["emulated_egress_gb"].startswith("emulated")
