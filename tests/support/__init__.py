"""The one way the tests do each common thing.

- ``servers``: our server in-process, on the front end ``MINIDISCORD_FRONTEND`` names.
- ``processes``: the real ``minidiscord`` command in a subprocess.
- ``rawclient``: Engine.IO/Socket.IO clients that write frames by hand.
- ``waiting``: waiting for server state the test cannot subscribe to.

Free ports and the server's command line come from ``benchkit.processes``, which the
scripts share.
"""
