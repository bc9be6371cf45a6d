"""The planner: usage + catalog + function graph -> placement and its modelled time and cost.

Pure: no executors, no I/O."""
