"""Rich tables for `mlspec plan`: which platforms were considered, the chosen placement (one line per
stage), the best plan per platform (priced-only offerings marked), a line when a VM cluster would cost less
than the plan, and a footer. `explain` adds each stage's reasons and placements."""

from __future__ import annotations

from typing import Any

from mlspec.planner.plan import PlanResult
from mlspec.wording import plural


def considered(result: PlanResult) -> str:
    """Which platforms the plan weighed, and why those: the spec's cloud targets, or every cloud."""
    ids = list(result.result.alternatives)
    clouds = [i for i in ids if not i.startswith("local:")]
    providers = sorted({i.split(":")[0] for i in clouds})
    targets = [t for t in result.pipeline.targets.configured() if t != "local"]
    offerings = f"{plural(len(clouds), 'offering')}, {plural(len(providers), 'provider')}"
    if result.options.all_platforms:
        text = f"every cloud in the catalog ({offerings}), as --all-platforms asks"
    elif targets:
        text = f"the spec's cloud targets, {', '.join(providers)} ({offerings})"
    else:
        text = f"every cloud in the catalog ({offerings}), because the spec's targets name none"
    text += (
        "; with the offerings mlspec can only price (--priced-only)"
        if result.options.priced_only
        else "; only offerings mlspec can deploy (--priced-only adds the others)"
    )
    if result.options.include_local:
        text += "; and this machine (--include-local)"
    else:
        text += "; not this machine (--include-local adds it)"
    return f"platforms considered: {text}"


def cluster_line(data: dict[str, Any]) -> str | None:
    """One line when a VM cluster (a serverful offering, priced only) would run the plan's stages for less
    than the plan, from `PlanResult.to_dict()`; None when none would."""
    plan_cost = data["plan"]["cost_usd"]
    cheaper = [c for c in data["serverful"] if c["available"] and 0 < c["cost_usd"] < plan_cost]
    if not cheaper:
        return None
    best = min(cheaper, key=lambda c: c["cost_usd"])
    return (
        f"serverful: a VM cluster ({best['offering']}) would cost ${best['cost_usd']:.5f} for the plan's stages, "
        f"{plan_cost / best['cost_usd']:.1f}x less than the plan's ${plan_cost:.5f}, in {best['time_s']:.1f} s "
        "(modelled, at assumed catalog prices; priced only: the same workers, each on a share of a VM, idle VMs "
        f"not counted; see `mlspec providers --platform {best['offering']}`)"
    )


def render(result: PlanResult, console: Any, explain: bool = False) -> None:
    from rich import box
    from rich.table import Table

    data = result.to_dict()
    chosen = data["plan"]
    console.print(considered(result))
    # On a line of its own: a table title wraps at the table's width, which can be narrower.
    console.print(
        f"plan for {data['pipeline']} ({data['optimizer']}; usage from {data['usage_source']})", soft_wrap=True
    )
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for header, justify in (
        ("stage", "left"),
        ("platform", "left"),
        ("memory MB\nsetting", "right"),
        ("vCPU\nassumed", "right"),
        ("workers\nsetting", "right"),
        ("time s\nmodelled", "right"),
        ("cost $\nmodelled", "right"),
    ):
        # on a narrow terminal only the platform folds: a stage stays one line as long as it can
        table.add_column(header, justify=justify, overflow="fold", no_wrap=header != "platform")  # type: ignore[arg-type]
    stages = chosen["stages"]
    for i, s in enumerate(stages):
        table.add_row(
            s["stage"],
            s["platform"],
            str(s["memory_mb"]),
            f"{s['vcpu']:.2f}",
            str(s["workers"]),
            f"{s['time_s']:.1f}",
            f"{s['cost_usd']:.5f}",
            end_section=i == len(stages) - 1,
        )
    table.add_row("total", "", "", "", "", f"{chosen['time_s']:.1f}", f"{chosen['cost_usd']:.5f}")
    console.print(table)
    if explain:
        console.print("why each stage is placed there:")
        for s in stages:
            console.print(f"  {s['stage']}: {s['why']}", highlight=False)

    alt = Table(
        title="alternatives: the best plan with every stage on one platform",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )
    for header, justify in (
        ("platform", "left"),
        ("time s\nmodelled", "right"),
        ("cost $\nmodelled", "right"),
        ("meets\nobjective", "left"),
    ):
        alt.add_column(header, justify=justify, overflow="fold")  # type: ignore[arg-type]
    if explain:
        alt.add_column("placement", overflow="fold")
    for oid, a in data["alternatives"].items():
        platform = oid + (f" (priced only{', serverful' if a['serverful'] else ''})" if a["priced_only"] else "")
        if not a["available"]:
            alt.add_row(platform, "-", "-", "no: cannot run every stage (memory or limits)")
            continue
        row = [platform, f"{a['time_s']:.1f}", f"{a['cost_usd']:.5f}", "yes" if a["feasible"] else "no"]
        if explain:
            row.append(", ".join(f"{s['stage']}: {s['memory_mb']} MB x {s['workers']}" for s in a["stages"]))
        alt.add_row(*row)
    for c in data["serverful"]:  # never placed on: the chosen plan's stages and workers on VMs, for comparison
        platform = f"{c['offering']} (priced only, serverful: the plan's stages and workers)"
        if not c["available"]:
            alt.add_row(platform, "-", "-", f"no: {c['problem']}")
            continue
        row = [platform, f"{c['time_s']:.1f}", f"{c['cost_usd']:.5f}", "yes" if c["feasible"] else "no"]
        if explain:
            row.append(", ".join(f"{s['stage']}: {s['memory_mb']} MB x {s['workers']}" for s in c["stages"]))
        alt.add_row(*row)
    console.print(alt)
    line = cluster_line(data)
    if line is not None:
        console.print(line, highlight=False)

    ev = data["evaluations"]
    met = "met" if chosen["feasible"] else "NOT met"
    console.print(
        f"objective: {data['objective']['description']} — {met}; "
        f"pipeline {chosen['time_s']:.1f} s, ${chosen['cost_usd']:.5f} (modelled)"
    )
    console.print(
        f"evaluations: {ev['total']} of a {ev['grid_size']}-point grid "
        f"({100 * ev['fraction_of_grid']:.1f} %) in {data['elapsed_s']:.2f} s"
        + ("" if explain else "; --explain gives the reasons")
    )
