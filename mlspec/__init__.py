"""mlspec: one pipeline.yaml, trained and served on serverless platforms."""

__version__ = "0.1.0"
