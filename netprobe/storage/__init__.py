"""Storage: the schema, the durable outbox, and the sinks (InfluxDB v1/v2, embedded local store)."""
