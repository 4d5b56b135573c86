"""Storage: the schema, the durable outbox, and the sinks (InfluxDB v1/v2, embedded local store).

Entry point: `open_storage(config) -> Storage` (see facade.py and docs/storage.md).
"""
