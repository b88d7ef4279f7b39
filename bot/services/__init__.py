"""The service layer, grouped by what it manages: each action loads the state, asks the core,
and records the decision in one unit of work (see docs/architecture.md)."""
