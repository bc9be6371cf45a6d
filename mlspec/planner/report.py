"""Rich tables for `mlspec plan`: the chosen placement, the best plan per platform, and a footer."""

from __future__ import annotations

from typing import Any

from mlspec.planner.plan import PlanResult


def render(result: PlanResult, console: Any) -> None:
    from rich.table import Table

    data = result.to_dict()
    chosen = data["plan"]
    title = f"plan for {data['pipeline']} ({data['optimizer']}; usage from {data['usage_source']})"
    table = Table(title=title, show_lines=True)
    for header, justify in (("stage", "left"), ("platform", "left"), ("memory MB (setting)", "right"),
                            ("vCPU (assumed)", "right"), ("workers (setting)", "right"),
                            ("time s (modelled)", "right"), ("cost $ (modelled)", "right"), ("why", "left")):
        table.add_column(header, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for s in chosen["stages"]:
        table.add_row(s["stage"], s["platform"], str(s["memory_mb"]), f"{s['vcpu']:.2f}", str(s["workers"]),
                      f"{s['time_s']:.1f}", f"{s['cost_usd']:.5f}", s["why"])
    table.add_row("total", "", "", "", "", f"{chosen['time_s']:.1f}", f"{chosen['cost_usd']:.5f}", "")
    console.print(table)

    alt = Table(title="considered alternatives: best plan with every stage on one platform")
    for header in ("platform", "time s (modelled)", "cost $ (modelled)", "meets objective", "placement"):
        alt.add_column(header, overflow="fold")
    for platform, a in data["alternatives"].items():
        if not a["available"]:
            alt.add_row(platform, "-", "-", "-", "cannot run every stage (memory or limits)")
            continue
        placement = ", ".join(f"{s['stage']}: {s['memory_mb']} MB x {s['workers']}" for s in a["stages"])
        alt.add_row(platform, f"{a['time_s']:.1f}", f"{a['cost_usd']:.5f}", "yes" if a["feasible"] else "no",
                    placement)
    console.print(alt)

    ev = data["evaluations"]
    met = "met" if chosen["feasible"] else "NOT met"
    console.print(f"objective: {data['objective']['description']} — {met}; "
                  f"pipeline {chosen['time_s']:.1f} s, ${chosen['cost_usd']:.5f} (modelled)")
    console.print(f"evaluations: {ev['total']} of a {ev['grid_size']}-point grid "
                  f"({100 * ev['fraction_of_grid']:.1f} %) in {data['elapsed_s']:.2f} s")
    if chosen["message"]:
        console.print(f"[bold red]{chosen['message']}[/]")
