"""Client addresses: who a request really comes from, and the key per-address limits count.

Behind a reverse proxy every connection comes from the proxy, so the client's address is
taken from ``Forwarded`` / ``X-Forwarded-For``, but only when the connection itself comes
from a proxy the operator trusts (``--forwarded-allow-ips``, the setting gunicorn and
uvicorn users know); anyone else could write those headers. Per-address limits count an
IPv6 client by its /64 network: one host usually owns a whole /64 and could otherwise
become 2**64 addresses.
"""

import ipaddress
from collections.abc import Iterable, MutableMapping
from typing import Any

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# The ASGI "client" of a scope whose host did not say.
UNKNOWN = "unknown"


def parse_ip(text: str) -> IPAddress | None:
    """An IP address (an IPv4-mapped IPv6 address is its IPv4 address), or None."""
    try:
        address = ipaddress.ip_address(text.strip().strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def address_key(ip: str) -> str:
    """What per-address limits count: the IPv4 address, or the /64 of an IPv6 address."""
    address = parse_ip(ip)
    if address is None:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class TrustedProxies:
    """The peers whose forwarding headers are believed: addresses and networks, or any."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.any = False
        self._networks: list[IPNetwork] = []
        for entry in entries:
            entry = entry.strip()
            if entry == "*":
                self.any = True
            elif entry:
                # Raises ValueError for something that is not an address or network.
                self._networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))

    def __bool__(self) -> bool:
        return self.any or bool(self._networks)

    def trusts(self, ip: str) -> bool:
        if self.any:
            return True
        address = parse_ip(ip)
        return address is not None and any(address in network for network in self._networks)

    def client_of(self, scope: MutableMapping[str, Any]) -> tuple[str, int] | None:
        """The real client of a request that came through trusted proxies, else None.

        The forwarding chain is read from the right (the hop nearest to us) and the first
        address that is not itself a trusted proxy is the client: entries further left
        were written by that client and prove nothing.
        """
        peer = scope.get("client")
        if not peer or not self.trusts(str(peer[0])):
            return None
        chain = _forwarded_chain(scope.get("headers", ()))
        if not chain:
            return None
        for entry in reversed(chain):
            if not self.trusts(entry[0]):
                return entry
        return chain[0]

    def resolve(self, scope: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        """The scope with ``client`` replaced by the real client when a proxy said who."""
        client = self.client_of(scope) if self else None
        if client is None:
            return scope
        resolved = dict(scope)
        resolved["client"] = client
        return resolved


def _forwarded_chain(raw_headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, int]]:
    """The client addresses a request's ``Forwarded`` header (or, without one, its
    ``X-Forwarded-For`` header) lists, nearest proxy last; entries that are not IP
    addresses (``unknown``, obfuscated names) end the chain's usable part."""
    forwarded: list[str] = []
    x_forwarded_for: list[str] = []
    for name, value in raw_headers:
        if name == b"forwarded":
            forwarded.append(bytes(value).decode("latin-1"))
        elif name == b"x-forwarded-for":
            x_forwarded_for.append(bytes(value).decode("latin-1"))
    if forwarded:
        nodes = [_forwarded_for(element) for element in ",".join(forwarded).split(",")]
    else:
        nodes = [item.strip() for item in ",".join(x_forwarded_for).split(",")]
    chain: list[tuple[str, int]] = []
    for node in nodes:
        entry = _node(node) if node else None
        if entry is None:
            # A hop we cannot read: nothing to its left can be attributed.
            chain = []
            continue
        chain.append(entry)
    return chain


def _forwarded_for(element: str) -> str:
    """The ``for=`` value of one ``Forwarded`` element (RFC 7239), unquoted."""
    for pair in element.split(";"):
        key, _, value = pair.partition("=")
        if key.strip().lower() == "for":
            return value.strip().strip('"')
    return ""


def _node(node: str) -> tuple[str, int] | None:
    """``ip``, ``ip:port``, ``[v6]`` or ``[v6]:port`` as (ip, port); None if not an address."""
    host, port_text = node, ""
    if node.startswith("["):
        host, _, rest = node[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif node.count(":") == 1:
        host, _, port_text = node.partition(":")
    address = parse_ip(host)
    if address is None:
        return None
    port = int(port_text) if port_text.isdigit() and len(port_text) <= 5 else 0
    return str(address), port
