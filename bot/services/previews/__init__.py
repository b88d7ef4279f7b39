"""Previews: every template rendered with sample data built by the real context builders."""
