"""netprobe: health probes for a province's dedicated data lines and LAN gear."""

__version__ = "0.1.0"
