"""Every figure of the metrics (docs/metrics.md): bookings and the funnel, the directors'
results, job-dating figures, channels and the six attribution models, money, and the report
that gathers them (``report --json``).

Figures only read: metrics may use the domains below (the interviews' free slots for pacing,
the roles' small-group threshold, ages for the audiences), and nothing writes through it.
"""
