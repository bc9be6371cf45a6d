"""Placeholder until this command group lands; registered by mlspec.cli."""

import click

COMMANDS: tuple[click.Command, ...] = ()
