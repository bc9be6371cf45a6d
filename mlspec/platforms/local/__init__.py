"""This machine as a platform: the image templates of `mlspec build --target local`.

Its executor is mlspec.executors.local; its catalog entry is mlspec.providers.local."""
