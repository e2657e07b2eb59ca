"""Read models built from the event log by worker processes.

Each read model has its own module holding its tables, its event handlers and its queries;
the engine applies batches of events and advances the tracking position in one transaction.
"""
