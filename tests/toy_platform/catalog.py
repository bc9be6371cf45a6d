"""The toy platform's catalog entry: its prices and limits (AWS Lambda x86_64's sourced facts under
another key, so every figure keeps a source), and what mlspec needs to build for, deploy to and run on it."""

from __future__ import annotations

from dataclasses import replace

from mlspec.providers.aws_lambda import X86_64
from mlspec.providers.catalog import Provider
from mlspec.providers.platform import ImageFacts, Platform

KEY = "toy-cloud"
STANDARD = replace(
    X86_64, provider_key=KEY, key="standard", display_name="Toy Cloud functions", description="A platform for tests"
)

PROVIDER = Provider(key=KEY, display_name="Toy Cloud (tests)", offerings=(STANDARD,))

PLATFORM = Platform(
    key=KEY,
    target="tests.toy_platform.settings:ToyCloudTarget",
    rank=50,
    image=ImageFacts("tests.toy_platform:image", "python:3.11-slim"),
    deployer="tests.toy_platform.deploy:ToyCloudDeployer",
    executor="tests.toy_platform.executor:ToyCloudExecutor",
    run_options="tests.toy_platform.run:run_options",
)
