"""Benchmarks: netprobe side by side with the reference tool (fping, net-snmp) in one run.

`python -m benchmarks NAME [ARGS]` runs benchmarks/NAME.py's `main(argv) -> int`. Each prints a fixed
last line (named in its docstring) so anyone can rerun and compare.
"""
