"""Run every benchmark module (`bench_*.py`) of this package: each defines `run(quick: bool) -> dict`."""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="Fewer repetitions.")
    parser.add_argument("--json", action="store_true", help="Print the results as JSON on stdout.")
    parser.add_argument("names", nargs="*", help="Only these benchmarks (module names without bench_).")
    args = parser.parse_args(argv)
    package = Path(__file__).parent
    results = {}
    started = time.perf_counter()
    for info in sorted(pkgutil.iter_modules([str(package)]), key=lambda m: m.name):
        if not info.name.startswith("bench_"):
            continue
        short = info.name.removeprefix("bench_")
        if args.names and short not in args.names:
            continue
        module = importlib.import_module(f"benchmarks.{info.name}")
        began = time.perf_counter()
        results[short] = module.run(quick=args.quick, verbose=not args.json)
        if not args.json:
            print(f"[{short}: {time.perf_counter() - began:.0f} s]\n")
    if args.json:
        sys.stdout.write(json.dumps(results, indent=2) + "\n")
    else:  # the bound for --quick is 5 minutes in all
        print(f"benchmarks: {time.perf_counter() - started:.0f} s in all{' (--quick)' if args.quick else ''}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
