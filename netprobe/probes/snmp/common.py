"""What the SNMP backends share: the tagged value form and the errors that become statuses."""

from __future__ import annotations

from netprobe.probes.base import AuthError, BadReplyError, ProbeError, Status
from netprobe.probes.snmp import ber

Tagged = tuple[int, ber.Value]  # (BER tag, decoded value): every backend answers in this form


class BadReply(BadReplyError):
    """The agent answered something a well-behaved agent cannot: the poll is a BAD_REPLY."""


class SnmpTimeout(ProbeError):
    """No answer in timeout × tries."""

    status = Status.TIMEOUT


class Indication(ProbeError):
    """pysnmp's errorIndication that is neither a timeout nor an authentication failure."""


class SnmpAuthError(AuthError):
    """The agent refused our credentials (USM user/digest/engine/time window, community, VACM)."""


def check_binds(
    pdu_or_binds: list[tuple[str, Tagged]], oids: list[str], exact: bool, bulk: int = 0
) -> list[tuple[str, Tagged]]:
    """The answer has one varbind per OID asked (GET: the same OIDs); GETBULK: 1..`bulk` varbinds."""
    if bulk:
        if not 1 <= len(pdu_or_binds) <= bulk:
            raise BadReply(f"{len(pdu_or_binds)} varbinds for a GETBULK of {bulk}")
        return pdu_or_binds
    if len(pdu_or_binds) != len(oids):
        raise BadReply(f"{len(pdu_or_binds)} varbinds for {len(oids)} requested")
    if exact:
        for (name, _), oid in zip(pdu_or_binds, oids, strict=True):
            if name != oid:
                raise BadReply(f"answer for {name} where {oid} was asked")
    return pdu_or_binds


class TooBig(Exception):
    """error-status tooBig(1): the answer does not fit the agent's message size; ask for fewer varbinds."""

    def __init__(self, message: str = "agent error-status tooBig: its answer does not fit its message size") -> None:
        super().__init__(message)  # never empty: it may reach a Measurement's error text as is


ERROR_STATUS = {1: "tooBig", 2: "noSuchName", 3: "badValue", 4: "readOnly", 5: "genErr", 6: "noAccess"}


def raise_error_status(status: int, index: int) -> None:
    if status == 1:
        raise TooBig()
    if status:
        raise BadReply(f"agent error-status {ERROR_STATUS.get(status, status)} at varbind {index}")
