"""The driver of preprocess stages. With one worker, the default driver runs the one function. With
`workers` N > 1 the stage is a map: one invocation splits the dataset into N parts in the object store,
N invocations each summarise one part at once, and one invocation merges the summaries into the
features and writes the outputs. Each step is retried as the default driver retries a stage."""

from __future__ import annotations

from dataclasses import replace

from mlspec.compile import FunctionNode
from mlspec.executors.coordinator import StageRun, finish_stage, run_invocations, run_stage, start_stage


def run_preprocess_stage(node: FunctionNode, run: StageRun) -> None:
    if node.fan_out == 1:
        run_stage(node, run)
        return
    stage = start_stage(node, run)
    one = replace(node, fan_out=1)
    run_invocations(one, run, stage, "split")
    run_invocations(node, run, stage, "count")
    lead = run_invocations(one, run, stage, "merge")
    finish_stage(stage, run, lead.get("metrics", {}), lead.get("history", []))
