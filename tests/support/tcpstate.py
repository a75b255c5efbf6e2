"""Whether the server still holds its end of a loopback TCP connection, from the kernel's
table (Linux): the test sees the server let go even while its client reads nothing."""

import trio

# /proc/net/tcp's columns: the local and remote "address:port" (hex) and the owning inode.
_LOCAL, _REMOTE, _INODE = 1, 2, 9


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1], 16)


def server_holds(client: trio.socket.SocketType) -> bool:
    """True while a descriptor in some process (the server's) holds the other end of
    ``client``'s connection; False once it is closed (gone, or left to the kernel to finish
    sending, which no process holds: inode 0)."""
    client_port = client.getsockname()[1]
    server_port = client.getpeername()[1]
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if _port(fields[_LOCAL]) == server_port and _port(fields[_REMOTE]) == client_port:
                    return int(fields[_INODE]) != 0
    return False
