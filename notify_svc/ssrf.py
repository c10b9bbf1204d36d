"""SSRF guard for webhooks: every resolved address must be public unless allow-listed."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class AddressRefused(Exception):
    """Raised when a webhook host resolves to a private, loopback, link-local or reserved IP."""


class HostUnresolved(Exception):
    """Raised when a webhook host does not resolve (possibly a passing DNS failure)."""


@dataclass(frozen=True)
class AllowList:
    """Hosts (exact names) and networks (CIDRs or single addresses) exempt from the guard."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: tuple[str, ...] | list[str]) -> AllowList:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                hosts.add(entry.strip().lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def permits(self, host: str, address: IPAddress) -> bool:
        return host.lower().rstrip(".") in self.hosts or any(
            address in network for network in self.networks
        )


def forbidden(address: IPAddress) -> bool:
    """True for anything that is not a global unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


async def resolve_target(host: str, port: int, allow: AllowList) -> str:
    """The address to connect to: every address of `host` is checked, the first one is used,
    so a DNS answer cannot change between the check and the connection (rebinding)."""
    try:
        literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise HostUnresolved(f"cannot resolve {host}: {exc}") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        if not addresses:
            raise HostUnresolved(f"{host} has no addresses")
    for address in addresses:
        if forbidden(address) and not allow.permits(host, address):
            raise AddressRefused(
                f"{host} resolves to {address}, a non-public address (allow it with "
                "NOTIFY_WEBHOOK_ALLOWLIST)"
            )
    return str(addresses[0])
