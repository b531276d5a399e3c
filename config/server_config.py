"""`server.toml`: SIP side, media, trunks, recording and logging, parsed into frozen dataclasses.

Other areas (ASR, prompts, campaigns, HTTP) add their own section dataclass in their own
`config/*_config.py` module and one field here, so this file stays the single place that knows the
shape of `server.toml`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from config.asr_config import AsrConfig, parse_asr
from config.campaign_config import (
    CampaignSettings,
    HttpSettings,
    PromiseSettings,
    StoreSettings,
    parse_campaign,
    parse_http,
    parse_promises,
    parse_store,
)
from config.dialogue_config import DialogueConfig, parse_dialogue
from config.errors import ConfigError
from config.prompts_config import PromptSettings, parse_prompts
from config.session_config import SessionConfig, parse_session
from config.toml_reader import Table, load_toml
from config.workers_config import WorkersSettings, parse_workers

CONFIG_DIR = Path(__file__).resolve().parent
DEFAULT_SERVER_TOML = CONFIG_DIR / "server.toml"


@dataclass(frozen=True)
class SipSettings:
    bind_address: str = "127.0.0.1"
    port: int = 5070
    transport: str = "udp"  # udp | tcp
    user_agent: str = "collections-voicebot"


@dataclass(frozen=True)
class MediaSettings:
    clock_rate: int = 8000  # 8000 | 16000
    codecs: tuple[str, ...] = ("PCMA", "PCMU")
    rtp_port_start: int = 40000
    rtp_port_range: int = 2000
    rtp_timeout_seconds: float = 20.0  # answered call with no RTP this long -> media_timeout; 0 = off


@dataclass(frozen=True)
class TrunkSettings:
    name: str
    proxy: str  # SIP URI calls are routed through, e.g. "sip:203.0.113.5:5060"
    registrar: str | None = None  # None: IP-authenticated trunk, no REGISTER
    username: str | None = None
    password: str | None = None
    realm: str = "*"
    caller_id: str = ""  # the number shown to the borrower (From user part)
    max_concurrent_calls: int = 10
    calls_per_second: float = 5.0
    register_expires_s: int = 300
    agent_uri: str | None = None  # where blind transfers to a human go
    # The carrier's SIP domain (host or host:port) for the request-URI and From when `proxy` is an
    # outbound proxy in front of the carrier (Kamailio, docs/deploy.md); None: the proxy's host:port.
    domain: str | None = None

    @property
    def registers(self) -> bool:
        return self.registrar is not None

    @property
    def uri_host(self) -> str:
        """host[:port] of the request-URI and From of calls through this trunk."""
        return self.domain or self.proxy.split(":", 1)[1].split(";", 1)[0]


@dataclass(frozen=True)
class CallSettings:
    ring_timeout_s: float = 45.0
    max_call_seconds: float = 300.0
    recording_dir: Path = Path("var/recordings")


@dataclass(frozen=True)
class LoggingSettings:
    level: str = "INFO"
    format: str = "json"  # json | text


@dataclass(frozen=True)
class ServerConfig:
    source: Path
    sip: SipSettings = field(default_factory=SipSettings)
    media: MediaSettings = field(default_factory=MediaSettings)
    calls: CallSettings = field(default_factory=CallSettings)
    trunks: tuple[TrunkSettings, ...] = ()
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    asr: AsrConfig = field(default_factory=AsrConfig)
    dialogue: DialogueConfig = field(default_factory=DialogueConfig)
    prompts: PromptSettings = field(default_factory=PromptSettings)
    campaign: CampaignSettings = field(default_factory=CampaignSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    session: SessionConfig = field(default_factory=SessionConfig)
    promises: PromiseSettings = field(default_factory=PromiseSettings)
    workers: WorkersSettings = field(default_factory=WorkersSettings)

    def trunk(self, name: str) -> TrunkSettings:
        for trunk in self.trunks:
            if trunk.name == name:
                return trunk
        known = ", ".join(t.name for t in self.trunks) or "none configured"
        raise ConfigError(self.source, "trunks", f"a trunk named {name!r} (known: {known})")


def load_server_config(path: Path | str = DEFAULT_SERVER_TOML) -> ServerConfig:
    """Parse `server.toml`; relative paths inside it are taken relative to the working directory."""
    root = load_toml(path)
    return ServerConfig(
        source=root.file,
        sip=_sip(root.table("sip")),
        media=_media(root.table("media")),
        calls=_calls(root.table("calls")),
        trunks=_trunks(root),
        logging=_logging(root.table("logging")),
        asr=parse_asr(root.table("asr")),
        dialogue=parse_dialogue(root.table("dialogue")),
        prompts=parse_prompts(root.table("prompts")),
        campaign=parse_campaign(root.table("campaign")),
        http=parse_http(root.table("http")),
        store=parse_store(root.table("store")),
        session=parse_session(root.table("session")),
        promises=parse_promises(root.table("promises")),
        workers=parse_workers(root.table("workers")),
    )


def _sip(t: Table) -> SipSettings:
    t.reject_unknown(["bind_address", "port", "transport", "user_agent"])
    d = SipSettings()
    return SipSettings(
        bind_address=t.string("bind_address", d.bind_address),
        port=t.integer("port", d.port, min=0, max=65535),
        transport=t.string("transport", d.transport, choices=("udp", "tcp")),
        user_agent=t.string("user_agent", d.user_agent),
    )


def _media(t: Table) -> MediaSettings:
    t.reject_unknown(["clock_rate", "codecs", "rtp_port_start", "rtp_port_range", "rtp_timeout_seconds"])
    d = MediaSettings()
    rate = t.integer("clock_rate", d.clock_rate)
    if rate not in (8000, 16000):
        raise t.error("clock_rate", "8000 or 16000", rate)
    codecs = t.strings("codecs", d.codecs)
    for codec in codecs:
        if codec not in ("PCMA", "PCMU"):
            raise t.error("codecs", "a list drawn from 'PCMA', 'PCMU'", codec)
    if not codecs:
        raise t.error("codecs", "at least one codec")
    rtp_timeout = t.number("rtp_timeout_seconds", d.rtp_timeout_seconds, min=0, max=3600)
    if rtp_timeout != rtp_timeout:  # NaN passes both range checks and would never fire
        raise t.error("rtp_timeout_seconds", "a number from 0 (off) to 3600", rtp_timeout)
    return MediaSettings(
        clock_rate=rate,
        codecs=codecs,
        rtp_port_start=t.integer("rtp_port_start", d.rtp_port_start, min=1024, max=65000),
        rtp_port_range=t.integer("rtp_port_range", d.rtp_port_range, min=10, max=20000),
        rtp_timeout_seconds=rtp_timeout,
    )


def _calls(t: Table) -> CallSettings:
    t.reject_unknown(["ring_timeout_s", "max_call_seconds", "recording_dir"])
    d = CallSettings()
    return CallSettings(
        ring_timeout_s=t.number("ring_timeout_s", d.ring_timeout_s, min=1, max=300),
        max_call_seconds=t.number("max_call_seconds", d.max_call_seconds, min=1, max=7200),
        recording_dir=Path(t.string("recording_dir", str(d.recording_dir))),
    )


_TRUNK_KEYS = [
    "name", "proxy", "registrar", "username", "password", "realm", "caller_id",
    "max_concurrent_calls", "calls_per_second", "register_expires_s", "agent_uri", "domain",
]

# host or host:port, IPv6 in brackets: what may follow the "@" of sip:number@domain.
_SIP_HOSTPORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::(\d{1,5}))?")


# The pjsua2-python wheel is compiled with PJSUA_MAX_ACC = 8 accounts per endpoint: one per trunk, plus the
# direct account and the one that refuses callers from outside the trunks. More would abort every call worker.
MAX_TRUNKS = 6


def _trunks(root: Table) -> tuple[TrunkSettings, ...]:
    trunks: list[TrunkSettings] = []
    for t in root.tables("trunks"):
        t.reject_unknown(_TRUNK_KEYS)
        if len(trunks) == MAX_TRUNKS:
            raise t.error("name", f"at most {MAX_TRUNKS} trunks (pjsua2's 8 accounts per endpoint: one per trunk, "
                                  "the direct one and the refusing one); front more carriers with an SBC")
        name = t.string("name")
        if any(existing.name == name for existing in trunks):
            raise t.error("name", "a trunk name used once", name)
        proxy = t.string("proxy")
        if not proxy.startswith(("sip:", "sips:")):
            raise t.error("proxy", "a SIP URI such as 'sip:203.0.113.5:5060'", proxy)
        registrar = t.string("registrar", None)
        domain = t.string("domain", None)
        if domain is not None:
            match = _SIP_HOSTPORT.fullmatch(domain)
            if match is None or not 0 < int(match.group(2) or 5060) < 65536:
                raise t.error("domain", "the carrier's host or host:port, such as '203.0.113.5:5060' "
                                        "(no scheme, user or parameters)", domain)
        username = t.string("username", None)
        password = t.string("password", None)
        if registrar is not None and (not username or password is None):
            raise t.error("username", "username and password when a registrar is set (digest auth)")
        trunks.append(
            TrunkSettings(
                name=name,
                proxy=proxy,
                registrar=registrar,
                username=username,
                password=password,
                realm=t.string("realm", "*"),
                caller_id=t.string("caller_id", ""),
                max_concurrent_calls=t.integer("max_concurrent_calls", 10, min=1, max=1000),
                calls_per_second=t.number("calls_per_second", 5.0, min=0.1, max=200),
                register_expires_s=t.integer("register_expires_s", 300, min=60, max=86400),
                agent_uri=t.string("agent_uri", None),
                domain=domain,
            )
        )
    return tuple(trunks)


def _logging(t: Table) -> LoggingSettings:
    t.reject_unknown(["level", "format"])
    return LoggingSettings(
        level=t.string("level", "INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR")),
        format=t.string("format", "json", choices=("json", "text")),
    )
