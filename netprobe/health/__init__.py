"""Verdicts: instability detection, root cause, states with hysteresis."""
