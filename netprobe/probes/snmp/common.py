"""What the SNMP backends share: the tagged value form and the errors that become statuses."""

from __future__ import annotations

from netprobe.probes.snmp import ber

Tagged = tuple[int, ber.Value]  # (BER tag, decoded value): every backend answers in this form


class BadReply(Exception):
    """The agent answered something a well-behaved agent cannot: the poll is a BAD_REPLY."""


class Indication(Exception):
    """pysnmp's errorIndication (timeout, auth failure...) carried out of the request helpers."""


def check_binds(pdu_or_binds: list[tuple[str, Tagged]], oids: list[str], exact: bool) -> list[tuple[str, Tagged]]:
    if len(pdu_or_binds) != len(oids):
        raise BadReply(f"{len(pdu_or_binds)} varbinds for {len(oids)} requested")
    if exact:
        for (name, _), oid in zip(pdu_or_binds, oids, strict=True):
            if name != oid:
                raise BadReply(f"answer for {name} where {oid} was asked")
    return pdu_or_binds
