from netprobe.cli.main import entry

entry()
