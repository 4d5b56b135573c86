"""The lab: a province on one machine, in network namespaces, with real snmpd and imposed faults.

For code and tests (root):

    from netprobe.lab.build import running
    with running("demo") as lab:           # lab = `netprobe lab status --json` as a dict
        inventory = load_inventory(lab["inventory"])
        netns.enter(lab["dc_namespaces"][0])   # in a child process: probe from the data centre

See docs/lab.md.
"""
