"""The inventory schema: province → communes → sites → lines and devices, plus agents and services.

Every model forbids unknown keys, so a misspelt key is an error with its file:line:col, not a silent
default. `defaults:` (province, commune, site) and per-line/per-device `probes:`/`thresholds:`/
`snmp_profile:` override one another from the outside in: built-in → province → commune → site → item.
"""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, model_validator

from netprobe.inventory.secrets import SecretRef

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class Strict(BaseModel):
    # allow_inf_nan=False: `.inf`/`.nan` are valid YAML floats but no duration, count or threshold
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, allow_inf_nan=False)


def _ip(value: Any) -> str:
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else None
    if text is None:
        raise ValueError(f"{value!r} is not an IP address")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address") from None


def _secret(value: Any) -> SecretRef:
    if isinstance(value, SecretRef):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a reference like '${NETPROBE_SNMP_KEY}' or 'file:/etc/netprobe/snmp.key'")
    return SecretRef.parse(value.strip())


def _slug(value: Any) -> str:
    if not isinstance(value, str) or not SLUG.match(value):
        raise ValueError(f"{value!r} is not a slug: use lowercase ASCII letters, digits and dashes, e.g. 'kinh-bac'")
    return value


def _text_id(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$", value):
        raise ValueError(f"{value!r} is not an id: use letters, digits, '.', '_', ':' or '-', no spaces")
    return value


IPAddr = Annotated[str, BeforeValidator(_ip)]


def _url(value: Any) -> str:
    from urllib.parse import urlsplit

    text = str(value).strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{text!r} is not an http:// or https:// URL with a host")
    return text


WebUrl = Annotated[str, BeforeValidator(_url)]
Secret = Annotated[SecretRef, BeforeValidator(_secret), PlainSerializer(str)]
Slug = Annotated[str, BeforeValidator(_slug)]
Ident = Annotated[str, BeforeValidator(_text_id)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
# Every duration and count is finite and bounded: a value that validates must never overflow a timer, a
# datetime or a buffer later in the agent (issue 14: `.inf`, `1e11`, `-1` once validated and then crashed it).
DAY_S = 86_400.0
Interval = Annotated[float, Field(ge=0.1, le=DAY_S, allow_inf_nan=False)]  # probe period: 0.1 s .. 1 day
Duration = Annotated[float, Field(ge=0, le=7 * DAY_S, allow_inf_nan=False)]  # holds, delays: up to a week
Window = Annotated[float, Field(gt=0, le=31 * DAY_S, allow_inf_nan=False)]  # look-back windows: up to a month
Threshold = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]
IF_INDEX_MAX = 2**31 - 1  # IF-MIB InterfaceIndex: 1..2147483647


def _interface(value: Any) -> str | int:
    """An ifIndex (1..2^31-1, IF-MIB) or an ifName/ifDescr (1..255 characters): one error, not one per type."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= IF_INDEX_MAX:
            raise ValueError(f"interface index {value} is out of range: ifIndex is 1..{IF_INDEX_MAX}")
        return value
    if isinstance(value, str) and 1 <= len(value.strip()) <= 255:
        return value.strip()
    raise ValueError(f"{value!r} is not an interface: write its ifName (e.g. 'ge-0/0/1') or ifIndex (e.g. 3)")


Interface = Annotated[str | int, BeforeValidator(_interface)]


# ---------------------------------------------------------------------------------------------------
# Settings that inherit: probe timing, thresholds, SNMP profile
# ---------------------------------------------------------------------------------------------------
class PingSettings(Strict):
    enabled: bool = True
    interval_s: Interval = 30.0
    count: Annotated[int, Field(ge=1, le=1000)] = 5
    spacing_ms: Annotated[float, Field(ge=0, le=60_000)] = 100.0  # between packets to one target
    timeout_ms: Annotated[float, Field(gt=0, le=60_000)] = 1000.0
    size: Annotated[int, Field(ge=0, le=65_000)] = 56  # ICMP payload bytes, like ping's -s


class TcpSettings(Strict):
    enabled: bool = True
    interval_s: Interval = 60.0
    timeout_ms: Annotated[float, Field(gt=0, le=60_000)] = 3000.0


class SnmpSettings(Strict):
    enabled: bool = True
    interval_s: Interval = 60.0
    timeout_ms: Annotated[float, Field(gt=0, le=60_000)] = 2000.0
    retries: Annotated[int, Field(ge=0, le=5)] = 1


class ProbeSettings(Strict):
    ping: PingSettings = PingSettings()
    tcp: TcpSettings = TcpSettings()
    snmp: SnmpSettings = SnmpSettings()


class Level(Strict):
    """A metric's thresholds. `enter` starts the state, `exit` (lower) ends it: hysteresis."""

    degraded: Threshold | None = None
    unstable: Threshold | None = None
    exit_ratio: Annotated[float, Field(gt=0, le=1)] = 0.5  # leave the state below enter × exit_ratio


class Thresholds(Strict):
    """What the verdicts judge a line or device by (netprobe.health; docs/verdicts.md explains each rule)."""

    loss_pct: Level = Level(degraded=2, unstable=10)
    rtt_ms: Level = Level(degraded=80, unstable=200)
    jitter_ms: Level = Level(degraded=15, unstable=40)
    rtt_vs_baseline: Level = Level(degraded=3, unstable=6)  # × the target's own rolling median
    # ms a line's end is slower than its provider edge, while it has no baseline of its own yet
    rtt_over_pe_ms: Level = Level(degraded=20)
    flaps_per_hour: Level = Level(degraded=1, unstable=3)
    errors_per_s: Level = Level(degraded=1, unstable=10)  # SNMP in+out interface errors, worst interface
    reboots: Level = Level(degraded=1, unstable=2)  # sysUpTime resets within the long window
    min_state_s: Duration = 120.0  # a verdict holds at least this long before improving
    window_s: Window = 300.0
    long_window_s: Window = 3600.0
    # Hysteresis in time (the Levels' exit_ratio is hysteresis in value):
    enter_s: Duration = 0.0  # a worse condition must last this long before the verdict worsens
    clear_s: Duration = 120.0  # a better condition must last this long before it improves
    down_probes: Annotated[int, Field(ge=1, le=100)] = 2  # consecutive all-lost bursts that make a target down
    min_lost_packets: Annotated[int, Field(ge=1, le=100_000)] = 2  # fewer lost packets never count as loss
    baseline_s: Window = 86_400.0  # the rolling-median RTT baseline looks back this far
    rtt_excess_min_ms: Annotated[float, Field(ge=0, le=60_000)] = 10.0  # rtt_vs_baseline also needs this much


class Overrides(Strict):
    """What any level may override. Only the keys actually written count (pydantic's fields_set)."""

    probes: ProbeSettings | None = None
    thresholds: Thresholds | None = None
    snmp_profile: str | None = None


# ---------------------------------------------------------------------------------------------------
# SNMP profiles
# ---------------------------------------------------------------------------------------------------
class SnmpV2c(Strict):
    version: Literal["2c"]
    community: Secret
    port: Annotated[int, Field(ge=1, le=65535)] = 161


class SnmpV3(Strict):
    version: Literal["3"]
    user: Annotated[str, Field(min_length=1)]
    auth_protocol: Literal["MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512"] = "SHA256"
    auth_key: Secret
    priv_protocol: Literal["DES", "AES", "AES128", "AES192", "AES256"] = "AES"
    priv_key: Secret
    context: str = ""
    port: Annotated[int, Field(ge=1, le=65535)] = 161


SnmpProfile = Annotated[SnmpV2c | SnmpV3, Field(discriminator="version")]


# ---------------------------------------------------------------------------------------------------
# The province
# ---------------------------------------------------------------------------------------------------
class Province(Strict):
    slug: Slug
    name: str


class Provider(Strict):
    name: str | None = None
    hotline: str | None = None


class Coordinates(Strict):
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]


class Contact(Strict):
    name: str | None = None
    phone: str | None = None


class LineRole(StrEnum):
    PRIMARY = "primary"
    BACKUP = "backup"


class RouterPort(Strict):
    """Where a line lands on the commune's router: that port's SNMP state (down, flaps, errors) is the
    line's fault, not the router's — a router whose WAN port went dark with its line is not itself broken."""

    device: Ident  # the router's device id (same commune)
    interface: str  # its ifName (as the SNMP probe reports it), e.g. "ge-0/0/1" or "wan1"


class Line(Overrides):
    """A dedicated data line (đường truyền số liệu chuyên dùng) from the provider to the commune."""

    id: Ident
    provider: str
    circuit_id: str | None = None
    bandwidth_mbps: Annotated[float, Field(gt=0, le=1e7)] | None = None
    ce: IPAddr  # customer edge: the commune's router end of the line
    pe: IPAddr | None = None  # provider edge: the provider's end, seen from the data centre
    hotline: str | None = None  # overrides the provider's hotline
    role: LineRole = LineRole.PRIMARY
    media: Literal["fiber", "copper", "4g", "5g", "radio", "other"] = "fiber"
    agents: list[str] | None = None  # vantage points that probe it; default: every agent covering the commune
    router_port: RouterPort | None = None  # where it lands on the commune router (see RouterPort)


class DeviceKind(StrEnum):
    ROUTER = "router"
    SWITCH = "switch"
    FIREWALL = "firewall"
    ACCESS_POINT = "access_point"
    VIDEO_ENDPOINT = "video_endpoint"
    SERVER = "server"
    OTHER = "other"


class Device(Overrides):
    id: Ident
    kind: DeviceKind
    address: IPAddr
    name: str | None = None
    model: str | None = None
    parent: str | None = None  # the line or device it sits behind
    interfaces: Annotated[list[Interface], Field(max_length=1024)] = []  # ifName/ifDescr or ifIndex
    tcp_ports: Annotated[list[Annotated[int, Field(ge=1, le=65535)]], Field(max_length=64)] = []
    snmp: bool = True  # false: ping only (gear without an agent)


class SiteKind(StrEnum):
    COMMUNE_OFFICE = "commune_office"  # trụ sở UBND xã/phường
    PUBLIC_SERVICE_CENTRE = "public_service_centre"  # Trung tâm phục vụ hành chính công
    PARTY_OFFICE = "party_office"
    POLICE = "police"
    HEALTH_STATION = "health_station"
    SCHOOL = "school"
    OTHER = "other"


class Site(Strict):
    id: Ident
    name: str | None = None
    kind: SiteKind = SiteKind.COMMUNE_OFFICE
    defaults: Overrides | None = None
    lines: list[Line] = []
    devices: list[Device] = []


class Commune(Strict):
    slug: Slug
    name: str  # with diacritics, e.g. "Phường Kinh Bắc"
    kind: Literal["commune", "ward", "special_zone"] = "commune"
    coordinates: Coordinates | None = None
    contact: Contact | None = None
    defaults: Overrides | None = None
    sites: list[Site] = []


class Agent(Strict):
    """A vantage point, e.g. one of the two provincial data centres."""

    name: Ident
    description: str | None = None
    netns: str | None = None  # lab only: the namespace the agent runs in
    source: IPAddr | None = None  # source address for probes, when the host has several
    communes: Literal["all"] | list[str] = "all"


class Service(Strict):
    """A service at the data centre that communes depend on (document system, public-service portal)."""

    id: Ident
    name: str
    address: IPAddr
    port: Annotated[int, Field(ge=1, le=65535)]
    # a web service: probed over HTTP(S) too (netprobe.probes.http); its host must resolve to `address`
    url: WebUrl | None = None
    expect: str | None = None  # a substring the page must contain (e.g. the portal's title)
    interval_s: Annotated[float, Field(ge=5, le=86_400)] = 60.0


# ===================================================================================================
# BEGIN notify (issue 17): who is told of an incident and over which channel. One self-contained
# block (plus the one `notify:` field of InventoryFile) so it merges cleanly with other schema work.
# ===================================================================================================
class Recipient(Strict):
    """A person or group told of incidents. At least one address; secrets (tokens) never here."""

    name: str
    lang: Literal["vi", "en"] = "vi"
    zalo_user_id: Annotated[str, Field(pattern=r"^[0-9]{1,32}$")] | None = None  # OA-scoped id of a follower
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    webhook: str | None = None  # a key of notify.webhooks
    days: list[Annotated[int, Field(ge=1, le=7)]] | None = None  # duty roster: ISO weekdays on duty (1 = Monday)
    min_severity: Literal["warning", "critical"] = "warning"

    @model_validator(mode="after")
    def _has_address(self) -> Recipient:
        if not (self.zalo_user_id or self.email or self.webhook):
            raise ValueError(f"recipient {self.name!r} has no address: give zalo_user_id, email or webhook")
        return self


class ZaloChannel(Strict):
    """Zalo Official Account API (docs/notify.md cites the contract). Tokens by reference only."""

    app_id: Annotated[str, Field(min_length=1)]
    secret_key: Secret
    access_token: Secret  # the first access token; refreshed ones are kept in the state directory
    refresh_token: Secret
    api_base: str = "https://openapi.zalo.me"
    oauth_base: str = "https://oauth.zaloapp.com"
    ca_file: str | None = None  # a private CA (tests); default: the system's
    timeout_s: PositiveFloat = 10.0


class SmtpChannel(Strict):
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    security: Literal["starttls", "ssl", "none"] = "starttls"
    user: str | None = None
    password: Secret | None = None
    sender: str  # From: address
    ca_file: str | None = None
    timeout_s: PositiveFloat = 10.0


class WebhookChannel(Strict):
    url: Annotated[str, Field(pattern=r"^https?://")]
    token: Secret | None = None  # sent as Authorization: Bearer
    hmac_secret: Secret | None = None  # X-Netprobe-Signature: sha256=<hex HMAC of the body>
    ca_file: str | None = None
    timeout_s: PositiveFloat = 10.0


class QuietHours(Strict):
    """Local time (Asia/Ho_Chi_Minh) when warnings wait; critical incidents are always sent."""

    start: Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] = "22:00"
    end: Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] = "06:30"


class NotifySettings(Strict):
    min_state: Literal["DEGRADED", "UNSTABLE", "DOWN"] = "UNSTABLE"  # weaker verdicts open no incident
    # a root cause must last this long before its incident opens: a line's first lossy minutes may turn
    # out to be its commune's isolation, and gear may look bad a moment before the line above it does
    confirm_s: Annotated[float, Field(ge=0, le=3600)] = 60.0
    repeat_h: Annotated[float, Field(gt=0)] | None = 4.0  # remind while unresolved; null: never
    escalate_after_min: Annotated[float, Field(ge=0)] = 30.0  # critical and unresolved → provider escalation
    flap_changes: Annotated[int, Field(ge=2, le=100)] = 4  # opens+clears within flap_window_s → "flapping"
    flap_window_s: PositiveFloat = 3600.0
    quiet_hours: QuietHours | None = None
    digest_at: Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] | None = None  # daily, local time
    senders: list[str] | None = None  # agents that notify (default: the first agent), so two DCs send once
    backoff_s: PositiveFloat = 5.0  # first retry delay; doubles per failure
    backoff_max_s: PositiveFloat = 600.0
    give_up_h: PositiveFloat = 48.0  # a message still undelivered after this long is marked failed
    max_queued: Annotated[int, Field(ge=10, le=1_000_000)] = 20_000  # undelivered messages kept at most


class NotifyConfig(Strict):
    settings: NotifySettings = NotifySettings()
    zalo: ZaloChannel | None = None
    smtp: SmtpChannel | None = None
    webhooks: dict[str, WebhookChannel] = {}
    duty: list[Recipient] = []  # the province duty roster (Tổ ứng cứu công nghệ)
    communes: dict[str, list[Recipient]] = {}  # commune slug → its IT contacts
    providers: dict[str, list[Recipient]] = {}  # provider key → its escalation contacts


# END notify ========================================================================================


class InventoryFile(Strict):
    """What one YAML file may hold. A directory's files are merged (communes concatenated)."""

    province: Province | None = None
    defaults: Overrides | None = None
    providers: dict[str, Provider] = {}
    snmp_profiles: dict[str, SnmpProfile] = {}
    agents: list[Agent] = []
    services: list[Service] = []
    communes: list[Commune] = []
    commune: Commune | None = None  # one-file-per-commune convenience
    notify: NotifyConfig | None = None  # issue 17: recipients and channels (the notify block above)
