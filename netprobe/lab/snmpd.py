"""Real net-snmp agents, one per SNMP-capable device namespace, each with its own config and state.

Never the system config: SNMPCONFPATH names only our config dir and its persistent dir
(SNMP_PERSISTENT_DIR, in the lab's state dir); `-p` writes a pidfile and `-Lf` logs to a file. The v2c
community and a v3 authPriv user (SHA-256 + AES-128) both read the whole MIB; IF-MIB reports the
namespace's real interfaces. A reboot is a restart: sysUpTime (agent uptime in net-snmp) and
snmpEngineTime start again from 0, snmpEngineBoots goes up by one, snmpEngineID stays.
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

from netprobe.lab.netns import path_of
from netprobe.lab.plan import DevicePlan
from netprobe.lab.procs import alive, spawn, stop

SNMPD = "/usr/sbin/snmpd"
__all__ = ["AgentFiles", "Credentials", "agent_files", "alive", "is_ready", "read_pid", "start", "stop", "write_config"]


@dataclass(frozen=True)
class Credentials:
    community: str
    user: str
    auth_key: str
    priv_key: str


@dataclass(frozen=True)
class AgentFiles:
    dir: Path

    @property
    def conf(self) -> Path:
        return self.dir / "snmpd.conf"

    @property
    def pidfile(self) -> Path:
        return self.dir / "snmpd.pid"

    @property
    def log(self) -> Path:
        return self.dir / "snmpd.log"

    @property
    def persist(self) -> Path:
        return self.dir / "persist"


def agent_files(state_dir: Path, device_id: str) -> AgentFiles:
    return AgentFiles(state_dir / "snmpd" / device_id)


def write_config(files: AgentFiles, device: DevicePlan, creds: Credentials) -> None:
    files.persist.mkdir(parents=True, exist_ok=True, mode=0o700)
    # A fixed engine ID per device and a persistent dir kept across restarts: like a real device, a reboot
    # keeps snmpEngineID, increments snmpEngineBoots and restarts snmpEngineTime and sysUpTime from 0.
    engine_id = hashlib.sha1(device.id.encode()).hexdigest()[:24]
    text = "\n".join(
        [
            f"# netprobe lab agent for {device.id} ({device.kind}); generated, do not edit",
            "agentaddress udp:161",
            "master no",
            f"exactEngineID 0x80001f8805{engine_id}",
            "dontLogTCPWrappersConnects yes",
            f"sysName {device.id}",
            f"sysDescr netprobe lab {device.kind} {device.id} (net-snmp in namespace {device.ns})",
            "sysLocation netprobe lab",
            "sysContact netprobe lab",
            "sysServices 78",
            f"rocommunity {creds.community}",
            f"createUser {creds.user} SHA-256 {creds.auth_key} AES {creds.priv_key}",
            f"rouser {creds.user} priv",
            "",
        ]
    )
    files.conf.write_text(text, encoding="utf-8")
    files.conf.chmod(0o600)


def start(files: AgentFiles, ns: str) -> int:
    """Start snmpd in namespace `ns` (foreground mode, so the pid we get is the agent's). Returns the pid."""
    for stale in (files.pidfile, files.log):
        stale.unlink(missing_ok=True)
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "SNMP_PERSISTENT_DIR": str(files.persist),
        "MIBS": "",  # numeric OIDs: no MIB parsing at start (faster, no log noise)
        "MIBDIRS": str(files.dir),
        # Only our config and our persistent state; never /etc/snmp. (Not `-C -c`: -C would also skip the
        # persistent file, so snmpEngineBoots would not survive a reboot.)
        "SNMPCONFPATH": f"{files.dir}:{files.persist}",
    }
    return spawn(
        [
            "nsenter",
            f"--net={path_of(ns)}",
            SNMPD,
            "-f",
            "-p",
            str(files.pidfile),
            "-Lf",
            str(files.log),
            "-M",
            str(files.dir),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )


def is_ready(files: AgentFiles) -> bool:
    try:
        return "NET-SNMP version" in files.log.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return False


def read_pid(files: AgentFiles) -> int | None:
    try:
        return int(files.pidfile.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
