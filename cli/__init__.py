"""Subcommands of `server.py`, one module each (see `server.COMMANDS`)."""
