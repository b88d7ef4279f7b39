"""Runbooks: the files on disk (parsed with line numbers) and the registry of those in force."""
