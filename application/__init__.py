"""Use cases and the infrastructure they stand on.

Application services load aggregates, call the domain and save every changed aggregate in
one transaction. The event store, the log reader, settings and the embedded database live
here too, each in its own module, wired together only in ``application.bootstrap``.
"""
