"""A real net-snmp `snmpd` on a loopback port with a throw-away config: the agent for tests and benchmarks.

Not a mock: it is Debian's snmpd answering from the host's real IF-MIB. It listens on 127.0.0.1 only,
keeps its state in a temp directory (never /var/lib/snmp) and is stopped by the pid we started.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from netprobe.errors import NetprobeError


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class LocalSnmpd:
    community: str = "np-public"
    v3_user: str = "npuser"
    auth_protocol: str = "SHA-256"  # net-snmp spelling
    auth_key: str = "np-auth-key-1"
    priv_protocol: str = "AES"
    priv_key: str = "np-priv-key-1"
    port: int = 0
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _dir: Path | None = field(default=None, repr=False)

    def start(self, timeout_s: float = 10.0) -> LocalSnmpd:
        exe = shutil.which("snmpd") or "/usr/sbin/snmpd"
        if not Path(exe).exists():
            raise NetprobeError("snmpd is not installed: run scripts/setup.sh (apt-get install snmpd)")
        self._dir = Path(tempfile.mkdtemp(prefix="npp-snmpd-"))
        self.port = self.port or free_udp_port()
        conf = self._dir / "snmpd.conf"
        conf.write_text(
            f"agentAddress udp:127.0.0.1:{self.port},udp6:[::1]:{self.port}\n"
            f"rocommunity {self.community} 127.0.0.1\nrocommunity6 {self.community} ::1\n"
            f"createUser {self.v3_user} {self.auth_protocol} {self.auth_key} {self.priv_protocol} {self.priv_key}\n"
            f"rouser {self.v3_user} priv\n"
            "sysName np-lab-agent\n"
            "sysDescr netprobe test agent (net-snmp)\n"
            f"[snmpd] persistentDir {self._dir}\n",
            encoding="utf-8",
        )
        log = self._dir / "snmpd.log"
        self._proc = subprocess.Popen(
            [exe, "-f", "-C", "-c", str(conf), "-Lf", str(log), "-p", str(self._dir / "pid"), "-M", "/dev/null"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={"SNMP_PERSISTENT_DIR": str(self._dir), "PATH": "/usr/sbin:/usr/bin:/bin", "MIBS": ""},
        )
        self._wait_ready(timeout_s)
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        """Bounded: poll sysUpTime with a hand-made v2c GET until the agent answers."""
        request = _v2c_get_sysuptime(self.community)
        end = time.monotonic() + timeout_s
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            while time.monotonic() < end:
                if self._proc is not None and self._proc.poll() is not None:
                    break
                s.sendto(request, ("127.0.0.1", self.port))
                try:
                    s.recvfrom(2048)
                    return
                except OSError:
                    continue
        log = (self._dir / "snmpd.log").read_text(errors="replace")[-400:] if self._dir else ""
        self.stop()
        raise NetprobeError(f"local snmpd on 127.0.0.1:{self.port} did not answer within {timeout_s} s: {log!r}")

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
            self._proc = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> LocalSnmpd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _v2c_get_sysuptime(community: str) -> bytes:
    """A minimal SNMPv2c GET sysUpTime.0 (BER), enough to see whether the agent is up."""
    c = community.encode()
    varbind = bytes.fromhex("300c06082b060102010103000500")
    vbl = b"\x30" + bytes([len(varbind)]) + varbind
    pdu_body = bytes.fromhex("020101020100020100") + vbl
    pdu = b"\xa0" + bytes([len(pdu_body)]) + pdu_body
    body = bytes.fromhex("020101") + b"\x04" + bytes([len(c)]) + c + pdu
    return b"\x30" + bytes([len(body)]) + body
