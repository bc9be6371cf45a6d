from mlspec.cli import main

main()
