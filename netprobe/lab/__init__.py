"""The lab: a province on one machine, in network namespaces, with real snmpd and imposed faults."""
