"""Releases: readiness reviews, their gates and go/no-go, status, the App Home, thread replies."""
