"""The OMS rules: aggregates, their past-tense events, value objects and named errors.

Pure Python on ``eventsourcing.domain``: no I/O, no clock, no id generation. Whatever
varies (time, ids) comes in as an argument so that rules are deterministic and testable.
"""
