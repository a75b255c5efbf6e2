"""Which names the server answers to: the Host header check that stops DNS rebinding.

A page on an attacker's domain can make that domain resolve to the server's address (to
127.0.0.1 for a server on a developer's machine); the browser then treats the server as
same-origin with the attacker's page, and only the Host header, which still names the
attacker's domain, tells the requests apart. A request is answered only when its Host is
a name the operator allowed, a localhost name, or an IP address literal (rebinding needs a
DNS name, so a literal address is never one).
"""

from collections.abc import Iterable

from .addresses import parse_ip

LOCALHOST_NAMES = ("localhost",)


def host_name(header: str) -> str:
    """The name part of a Host header (no port, no brackets, lower case, no final dot)."""
    host = header.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") == 1:
        host = host.partition(":")[0]
    return host.rstrip(".")


class AllowedHosts:
    """``*`` allows any name; ``.example.com`` (or ``*.example.com``) a domain and its
    subdomains; anything else one exact name."""

    def __init__(self, names: Iterable[str]) -> None:
        self.any = False
        exact: set[str] = set(LOCALHOST_NAMES)
        domains: list[str] = []
        for raw in names:
            name = raw.strip().lower().rstrip(".")
            if name == "*":
                self.any = True
            elif name.startswith(("*.", ".")):
                domains.append(name.lstrip("*"))
            elif name:
                exact.add(host_name(name))
        self._exact = frozenset(exact)
        self._domains = tuple(domains)

    def allows(self, header: str | None) -> bool:
        """True when a request with this Host header (None: none sent) may be answered."""
        if header is None or self.any:
            # Browsers always send Host; a request without one is not a rebinding page.
            return True
        name = host_name(header)
        if name in self._exact or name.endswith(".localhost") or parse_ip(name) is not None:
            return True
        return any(name.endswith(domain) or name == domain[1:] for domain in self._domains)
