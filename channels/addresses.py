"""Server addresses as people type them ("mastodon.social", "https://pds.example.org:2583/",
"[2001:db8::1]:8443") read into a base URL ("https://host[:port]"), or refused with a sentence for
the field. Whether the server may be reached at all is channels.guard.check_url's question."""

import ipaddress
import re
from urllib.parse import urlsplit

_NETLOC = re.compile(r"(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<host>[^\[\]:@/\s]+))(?::(?P<port>\d{1,5}))?")
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")


class BadAddress(ValueError):
    """Not a server address; the message is a sentence for the field."""

    def __init__(self, example: str):
        super().__init__(f"Enter a server address such as {example}.")
        self.message = str(self)


def _host(name: str) -> str | None:
    """A domain name or an IPv4 address, lower case, as typed (an international name is checked in
    its ASCII form but kept as typed, so a channel's server address does not change)."""
    name = name.lower().removesuffix(".")
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    if len(ascii_name) > 253 or not all(_LABEL.fullmatch(label) for label in ascii_name.split(".")):
        return None
    return name


def server_base_url(value: str, *, example: str = "social.example") -> str:
    """'mastodon.social' -> 'https://mastodon.social'; keeps http://, a port and IPv6 brackets, drops
    any path. Raises BadAddress for anything else."""
    value = (value or "").strip()
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        pass
    else:
        value = f"[{value}]"  # a bare IPv6 address
    if "://" not in value:
        value = "https://" + value
    try:
        parts = urlsplit(value)
    except ValueError:  # an unclosed [ and the like
        raise BadAddress(example) from None
    match = _NETLOC.fullmatch(parts.netloc)
    if parts.scheme.lower() not in ("http", "https") or match is None:
        raise BadAddress(example)
    if match["ipv6"]:
        try:
            host = f"[{ipaddress.IPv6Address(match['ipv6']).compressed}]"
        except ValueError:
            raise BadAddress(example) from None
    else:
        host = _host(match["host"])
        if host is None:
            raise BadAddress(example)
    port = match["port"]
    if port is not None and not 1 <= int(port) <= 65535:
        raise BadAddress(example)
    return f"{parts.scheme.lower()}://{host}" + (f":{int(port)}" if port else "")
