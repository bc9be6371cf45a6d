"""Spec loading: valid specs load, and every kind of bad input is one located message, exit 2."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlspec import spec
from mlspec.errors import SpecError

GOOD = """\
name: demo
datasets:
  imdb: {format: imdb}
stages:
  prep: {kind: preprocess, dataset: imdb}
  train:
    kind: train
    data: prep
    model: logistic_regression
    workers: 2
  eval: {kind: evaluate, model: train}
"""


def problems(text: str, overrides: list[str] | None = None) -> list[str]:
    with pytest.raises(SpecError) as info:
        spec.load_text(text, "p.yaml", overrides)
    return [str(p) for p in info.value.problems]


def test_good_spec_loads_with_defaults() -> None:
    pipeline = spec.load_text(GOOD, "p.yaml")
    assert pipeline.stage_order() == ["prep", "train", "eval"]
    assert pipeline.targets.local.memory_mb == 2048
    assert pipeline.stages["train"].workers == 2  # type: ignore[union-attr]


def test_wrong_type_points_at_the_value() -> None:
    assert problems(GOOD.replace("workers: 2", "workers: two")) == [
        "p.yaml:10:14: stages.train.workers: must be a whole number (got 'two')"
    ]


def test_unknown_key_points_at_the_key() -> None:
    assert problems(GOOD.replace("    workers: 2", "    workers: 2\n    wrokers: 3")) == [
        "p.yaml:11:5: unknown key 'wrokers' in stages.train"
    ]


def test_missing_key_points_at_the_parent() -> None:
    assert problems(GOOD.replace("    data: prep\n", "")) == ["p.yaml:6:3: missing required key 'data' in stages.train"]


def test_unknown_stage_kind() -> None:
    (message,) = problems(GOOD.replace("kind: evaluate", "kind: evalute"))
    assert message.startswith("p.yaml:11:")
    assert "evalute" in message and "preprocess" in message


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("dataset: imdb}", "dataset: imbd}", "p.yaml:5:37: unknown dataset 'imbd' (datasets: imdb)"),
        ("model: train}", "model: trian}", "p.yaml:11:33: unknown stage 'trian' (stages: prep, train, eval)"),
        ("data: prep", "data: eval", "p.yaml:8:11: stage 'eval' is an evaluate stage; train.data needs preprocess"),
        (
            "format: imdb",
            "format: cifar10",
            "p.yaml:9:12: model logistic_regression trains on imdb data, but 'prep' reads a cifar10 dataset",
        ),
    ],
)
def test_cross_references(old: str, new: str, expected: str) -> None:
    assert problems(GOOD.replace(old, new)) == [expected]


def test_overrides_are_validated_like_the_file() -> None:
    pipeline = spec.load_text(GOOD, "p.yaml", ["stages.train.workers=4", "targets.local.timeout_s=5"])
    assert pipeline.stages["train"].workers == 4  # type: ignore[union-attr]
    assert pipeline.targets.local.timeout_s == 5
    assert problems(GOOD, ["stages.train.workers=many"])[0].startswith("--set stages.train.workers=many: ")
    assert problems(GOOD, ["stages.train.wrkers=1"]) == [
        "--set stages.train.wrkers=1: unknown key 'wrkers' in stages.train"
    ]
    assert problems(GOOD, ["nonsense"]) == ["--set nonsense: expected dotted.key=value"]


def test_units_for_deadline_and_budget() -> None:
    pipeline = spec.load_text(GOOD + "objective: {minimize: time, deadline: 30m, budget: '$2.50'}\n", "p.yaml")
    assert pipeline.objective.deadline == 1800 and pipeline.objective.budget == 2.5
    assert "not a duration" in problems(GOOD + "objective: {deadline: soon}\n")[0]


HOSTILE = {
    "empty": (b"", "p.yaml:1:1: empty spec"),
    "only comments": (b"# nothing\n", "p.yaml:1:1: empty spec"),
    "broken": (b"name: [unclosed\n", "p.yaml:2:1: invalid YAML"),
    "tabs": (b"name: x\nstages:\n\tprep: 1\n", "p.yaml:3:1: invalid YAML"),
    "duplicate": (b"name: a\nname: b\n", "p.yaml:2:1: duplicate key 'name'"),
    "alias bomb": (b'a: &a ["x","x"]\nb: &b [*a,*a]\nc: [*b,*b]\n', "p.yaml:1:4: YAML anchors"),
    "alias": (b"a: *x\n", "p.yaml:1:4: YAML aliases"),
    "python tag": (b"name: !!python/object/apply:os.system ['true']\n", "p.yaml:1:7: YAML tag"),
    "custom tag": (b"name: !shout x\n", "p.yaml:1:7: YAML tag !shout"),
    "two documents": (b"name: a\n---\nname: b\n", "p.yaml:2:1: more than one YAML document"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\xff\xfe", "p.yaml:1:1: not UTF-8 text"),
    "nul": (b"name: a\x00\n", "p.yaml:1:1: contains NUL bytes"),
    "scalar": (b"42\n", "p.yaml:1:1: expected a mapping"),
    "list": (b"- a\n- b\n", "p.yaml:1:1: expected a mapping"),
    "non-string key": (b"1: a\n", "p.yaml:1:1: keys must be strings"),
    "deep": (b"a: " + b"[" * 200 + b"]" * 200 + b"\n", "nested deeper than 64"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_input_gives_one_located_line(tmp_path: Path, case: str) -> None:
    data, expected = HOSTILE[case]
    path = tmp_path / "p.yaml"
    path.write_bytes(data)
    with pytest.raises(SpecError) as info:
        spec.load(path)
    text = str(info.value).replace(str(path), "p.yaml")
    assert expected in text, text
    assert len(info.value.problems) == 1


def test_size_cap(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * (2 << 20))
    with pytest.raises(SpecError, match="larger than"):
        spec.load(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such file"):
        spec.load(tmp_path / "absent.yaml")


def test_cli_reports_hostile_input_without_traceback_fast(tmp_path: Path) -> None:
    for case, (data, expected) in HOSTILE.items():
        path = tmp_path / f"{case.replace(' ', '_')}.yaml"
        path.write_bytes(data)
        start = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "mlspec", "validate", str(path)], capture_output=True, text=True)
        assert time.monotonic() - start < 5  # generous for a loaded CI machine; typically ~0.3 s
        assert proc.returncode == 2, (case, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert expected.replace("p.yaml", str(path)) in proc.stderr, (case, proc.stderr)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_random_bytes_never_crash(data: bytes) -> None:
    try:
        spec.load_text(data.decode("utf-8", "replace"), "p.yaml")
    except SpecError as exc:
        assert all(str(p).startswith("p.yaml") for p in exc.problems)


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(min_size=1, max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["name", "datasets", "stages", "targets", "objective", "seed", "x"]), yaml_values, max_size=6
    )
)
def test_random_structures_give_located_errors(data: dict[str, object]) -> None:
    import io

    from ruamel.yaml import YAML

    buf = io.StringIO()
    YAML(typ="safe", pure=True).dump(data, buf)
    try:
        spec.load_text(buf.getvalue(), "p.yaml")
    except SpecError as exc:
        for p in exc.problems:
            assert p.line is not None and p.line >= 1, str(p)
