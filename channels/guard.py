"""The guard on user-supplied addresses (instances, PDSes, link-card pages): public internet only.

`check_url` refuses URLs whose host resolves to a private, loopback, link-local or otherwise
non-public address, unless settings.SSRF_ALLOW_PRIVATE is on (development and tests against local
servers). A check and a later connection must not look the name up separately (DNS rebinding), so
the clients in channels.transport call `public_addresses` themselves when they connect.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from channels.addresses import BadAddress, server_base_url


class UnsafeURL(Exception):
    """The URL is malformed or points somewhere we must not go. The message is user-readable."""


class PrivateAddress(UnsafeURL):
    """The host resolves to an address that is not on the public internet."""


class HostNotFound(UnsafeURL):
    """The host name could not be looked up (it may not exist, or DNS is failing right now)."""


# IPv6 ranges that Python counts as global but that reach private networks or are obsolete.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # the IPv4 address is the last 32 bits
_NOT_PUBLIC_V6 = (
    ipaddress.ip_network("::/96"),  # IPv4-compatible (deprecated; never a real server)
    ipaddress.ip_network("fec0::/10"),  # site-local (deprecated; still routed inside some networks)
    ipaddress.ip_network("64:ff9b:1::/48"),  # NAT64 for local use
)


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        elif ip.sixtofour:  # 2002::/16 carries an IPv4 address to tunnel to
            ip = ip.sixtofour
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        elif any(ip in network for network in _NOT_PUBLIC_V6):
            return False
    return ip.is_global and not ip.is_multicast


def public_addresses(host: str, port: int) -> list[tuple[int, str]]:
    """Look the host up once: its (family, address) pairs, all public, else raise PrivateAddress.

    A failed lookup raises socket.gaierror (or UnicodeError), as a connection would.
    """
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    for info in infos:
        if not _is_public(info[4][0]):
            raise PrivateAddress(f"The address {host} points to a private network, which is not allowed.")
    return list(dict.fromkeys((info[0], info[4][0]) for info in infos))


def check_url(url: str) -> str:
    """Return the normalised URL if it is an http(s) URL to a public host, else raise UnsafeURL."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeURL("Enter a full web address starting with https://.")
    if parts.username or parts.password:
        raise UnsafeURL("Addresses with a user name or password in them are not accepted.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeURL("The address has an invalid port number.") from None
    if settings.SSRF_ALLOW_PRIVATE:
        return url
    try:
        public_addresses(parts.hostname, port)
    except (socket.gaierror, UnicodeError):
        raise HostNotFound(f"The server {parts.hostname} could not be found. Check the address.") from None
    return url


def normalise_base_url(url: str, *, example: str = "social.example") -> str:
    """'mastodon.social' -> 'https://mastodon.social'; strips paths, keeps a port and IPv6 brackets
    (read by channels.addresses, which refuses malformed addresses with a sentence naming `example`)."""
    try:
        base_url = server_base_url(url, example=example)
    except BadAddress as exc:
        raise UnsafeURL(exc.message) from None
    return check_url(base_url)
