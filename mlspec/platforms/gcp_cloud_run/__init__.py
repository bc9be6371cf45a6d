"""Google Cloud Run: credentials, deployer, executor, run options and image templates (image/).

Its catalog entry (prices, limits, and the `Platform` naming these modules) is mlspec.providers.gcp_cloud_run."""
