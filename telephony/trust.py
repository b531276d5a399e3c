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

    def __init__(self, ips: Iterable[str]) -> None:
        self.ips = frozenset(str(ipaddress.ip_address(ip)) for ip in ips)

    @classmethod
    def of_trunks(cls, trunks: Iterable[TrunkSettings], extra_hosts: Iterable[str] = ()) -> TrustedSources:
        """Resolve every trunk's proxy and registrar host (blocking DNS: call at start-up only)."""
        hosts = set(extra_hosts)
        for trunk in trunks:
            hosts.add(uri_host(trunk.proxy))
            if trunk.registrar:
                hosts.add(uri_host(trunk.registrar))
        ips: set[str] = set()
        for host in hosts:
            try:
                ips.update(str(info[4][0]) for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_UDP))
            except OSError:
                continue  # an unresolvable trunk host trusts nobody; dialing through it fails loudly anyway
        return cls(ips)

    def allows(self, src_address: str) -> bool:
        return source_ip(src_address) in self.ips
