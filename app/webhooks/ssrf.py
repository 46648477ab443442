"""The SSRF guard: webhook targets must be public addresses unless configuration allows more.

A form editor chooses the URL, the worker makes the request from inside the
host's network: without this check a webhook could reach Redis, MongoDB, the
metadata service at 169.254.169.254 or anything else on loopback or the LAN.
Every address the name resolves to is checked, at endpoint creation and
again before every delivery (DNS answers change).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class UnsafeTarget(ValueError):
    """The URL is malformed or points at an address that is not allowed."""


def parse_nets(spec: str) -> list[IPNetwork]:
    """``"127.0.0.0/8,10.1.0.0/16"`` → networks (the FMS_WEBHOOK_ALLOW_NETS format)."""
    return [ipaddress.ip_network(p.strip(), strict=False) for p in spec.split(",") if p.strip()]


def _public(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_address(ip: IPAddress, allow_private: bool, allow_nets: Iterable[IPNetwork]) -> None:
    if _public(ip) or allow_private or any(ip in net for net in allow_nets):
        return
    raise UnsafeTarget(f"address {ip} is private, loopback, link-local or reserved")


def check_target(url: str, allow_private: bool = False, allow_nets: Iterable[IPNetwork] = ()) -> list[IPAddress]:
    """Raise :class:`UnsafeTarget` unless every address of ``url``'s host is allowed; the addresses."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise UnsafeTarget("webhook URL must be http(s)://host/...")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, ValueError) as exc:
        raise UnsafeTarget(f"cannot resolve {parts.hostname!r}: {exc}") from exc
    nets = list(allow_nets)
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    for ip in addresses:
        check_address(ip, allow_private, nets)
    return addresses
