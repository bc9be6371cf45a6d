"""Placeholder until this command group lands; registered by mlspec.cli."""

COMMANDS: tuple[object, ...] = ()
