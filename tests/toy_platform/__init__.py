"""A toy platform, "toy-cloud", added the way a third-party package adds one: an entry point in the
``mlspec.platforms`` group names its catalog module (see site/, put on PYTHONPATH by the test), and
nothing under mlspec/ is edited. Its "cloud" is a fake: deploying writes the functions into a JSON file,
and its executor checks that file and then runs each invocation through mlspec's local process shim."""
