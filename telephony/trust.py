"""Which source addresses may send us SIP requests that start calls: the configured trunks.

Why: the server only places calls, but its SIP port is reachable by anyone who can route to it,
and scanners send INVITEs to every SIP port they find. A request from a trunk's own address gets
the polite "busy" an outbound-only server gives; anyone else is told 403 at once, before pjsua
would keep any state for a call. Addresses are resolved once when the endpoint starts (DNS would
block inside the pjsua callback), by IP only: trunks and proxies send from ports of their choosing
(TCP always from an ephemeral one).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Protocol

from config.server_config import TrunkSettings


def uri_host(uri: str) -> str:
    """`sip:user@host:port;params` -> `host` (IPv6 `[::1]` -> `::1`)."""
    rest = uri.split(":", 1)[1] if ":" in uri else uri
    rest = rest.split(";", 1)[0].split("?", 1)[0]
    rest = rest.rsplit("@", 1)[-1]
    if rest.startswith("["):
        return rest[1:].split("]", 1)[0]
    return rest.split(":", 1)[0]


def source_ip(address: str) -> str:
    """pjsip's `srcAddress` (`1.2.3.4:5060` or `[::1]:5060`) -> the IP text, normalised."""
    host = address[1:].split("]", 1)[0] if address.startswith("[") else address.rsplit(":", 1)[0]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


class TrustedSources:
    """The set of IPs a call-starting request may come from (trunk proxies and registrars)."""

    def __init__(self, ips: Iterable[str], trunks_by_ip: dict[str, str] | None = None) -> None:
        self.ips = frozenset(str(ipaddress.ip_address(ip)) for ip in ips)
        self._trunks = dict(trunks_by_ip or {})  # ip -> the first configured trunk sending from it

    @classmethod
    def of_trunks(cls, trunks: Iterable[TrunkSettings], extra_hosts: Iterable[str] = ()) -> TrustedSources:
        """Resolve every trunk's proxy and registrar host (blocking DNS: call at start-up only)."""
        owners: dict[str, str | None] = dict.fromkeys(extra_hosts)
        for trunk in trunks:
            for host in (uri_host(trunk.proxy), uri_host(trunk.registrar) if trunk.registrar else None):
                if host is not None and owners.get(host) is None:
                    owners[host] = trunk.name
        ips: set[str] = set()
        by_ip: dict[str, str] = {}
        for host, owner in owners.items():
            try:
                found = {str(info[4][0]) for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_UDP)}
            except OSError:
                continue  # an unresolvable trunk host trusts nobody; dialing through it fails loudly anyway
            ips.update(found)
            for ip in found:
                if owner is not None:
                    by_ip.setdefault(str(ipaddress.ip_address(ip)), owner)
        return cls(ips, by_ip)

    def allows(self, src_address: str) -> bool:
        return source_ip(src_address) in self.ips

    def trunk_of(self, src_address: str) -> str | None:
        """The trunk a request from this address came through (the first configured one on that IP)."""
        return self._trunks.get(source_ip(src_address))


class Clock(Protocol):
    def seconds(self) -> float: ...


class RefusalLogBrake:
    """Logs the first refused request per source IP per minute and counts the rest.

    Why: an INVITE flood is thousands of refusals a minute; one line each would turn it into a disk
    flood. The line that ends a quiet minute carries how many were refused without a line.
    """

    WINDOW_S = 60.0
    MAX_SOURCES = 10_000

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._seen: dict[str, tuple[float, int]] = {}  # ip -> (logged at, refused since without a line)

    def should_log(self, source_ip: str) -> int | None:
        """None: stay quiet (counted); else log now, with how many went unlogged since the last line."""
        now = self._clock.seconds()
        entry = self._seen.get(source_ip)
        if entry is not None and now - entry[0] < self.WINDOW_S:
            self._seen[source_ip] = (entry[0], entry[1] + 1)
            return None
        if entry is None and len(self._seen) >= self.MAX_SOURCES:
            self._seen = {ip: e for ip, e in self._seen.items() if now - e[0] < self.WINDOW_S}
            if len(self._seen) >= self.MAX_SOURCES:
                return None
        self._seen[source_ip] = (now, 0)
        return entry[1] if entry is not None else 0
