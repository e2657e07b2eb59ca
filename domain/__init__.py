"""The OMS rules: aggregates, their past-tense events, value objects and named errors.

Pure Python on ``eventsourcing.domain``: no I/O, no clock, no id generation. Whatever
varies (time, ids) comes in as an argument so that rules are deterministic and testable.

Modules: ``order`` (the Order aggregate), ``order_values`` (its inputs, event payloads and
state), ``allocation`` (where placed units are reserved), ``inventory`` (stock of one SKU at
one location), ``location`` (the location network), ``customer``, ``values`` (shared value
objects, vocabularies and input guards), ``money`` and ``errors``.
"""
