"""Executors run invocations on a backend; the coordinator runs a whole pipeline on one."""
