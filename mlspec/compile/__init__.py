"""Spec -> FunctionGraph (and, later, Plan -> build contexts)."""

from mlspec.compile.graph import FunctionGraph, FunctionNode, graph

__all__ = ["FunctionGraph", "FunctionNode", "graph"]
