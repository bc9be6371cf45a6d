"""One package per cloud platform, reached only through the registry (mlspec.providers.registry):
each platform's catalog entry names its modules here as "module:attr" strings."""
