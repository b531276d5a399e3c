"""Simulated borrowers: a separate process that answers the bot's calls as scripted personas."""
