"""Cross-cutting HTTP behaviour: idempotency, limits, authorization, schema fuzzing."""
