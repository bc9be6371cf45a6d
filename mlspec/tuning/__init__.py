"""Hyperparameter search for tune stages: which configurations to try, and when to stop a trial."""
