"""Probes: one folder per probe kind, each implementing `netprobe.probes.base.Probe`."""
