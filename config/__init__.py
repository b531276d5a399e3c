"""Typed configuration: TOML files under this folder are parsed once, at the edge, into frozen objects.

Lower layers receive these objects; nothing below `config` reads files or the environment for settings.
"""
