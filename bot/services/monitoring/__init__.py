"""Monitoring as a source releasebot pulls from: query-backed criteria (and gate checks)."""
