"""The floor everything stands on: settings (every environment variable, read once), content hashes, what counts
as blank text. Imports nothing of the project."""
