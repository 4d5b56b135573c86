"""Grafana provisioning for netprobe: dashboards, alert rules and datasource, generated from code.

Everything under the repository's `grafana/` folder is written by `python -m netprobe.grafana generate`
from the modules here, so dashboards stay consistent (one datasource variable, one schemaVersion, state
colours in one place) and reproducible. Queries are InfluxQL against the schema in netprobe.storage.schema;
tests run every one of them on a real influxd (see docs/grafana.md).
"""
