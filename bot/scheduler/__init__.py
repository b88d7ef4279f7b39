"""Time-driven work: timers claimed by whichever replica gets there first (see
docs/time-driven-work.md). ``worker`` runs them, ``leases`` keeps the ones running, ``slots``
says when recurring work is due, ``handlers`` holds the reviews' and rollbacks' handlers (and
``reports`` their failures), ``metrics`` what /metrics says, ``runner`` what the services ask
for."""
