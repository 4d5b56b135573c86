"""The probe engine: targets from the inventory, the allow-list, and running probes at scale."""
