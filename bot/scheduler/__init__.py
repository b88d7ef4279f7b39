"""Time-driven work: timers claimed by whichever replica gets there first (see
docs/time-driven-work.md). ``worker`` runs them, ``slots`` says when recurring work is due,
``jobs`` holds the reviews' and rollbacks' handlers, ``runner`` what the services ask for."""
