"""The one way the tests do each common thing.

- ``servers``: our server in-process, on the front end ``MINIDISCORD_FRONTEND`` names.
- ``layouts``: the chat on one node or spread over the nodes of a cluster on a private
  redis-server (the ``layout`` and ``start_chat`` fixtures), so one test proves both.
- ``processes``: the real ``minidiscord`` command in a subprocess.
- ``chatclient``: a chat client on ``minidiscord.client`` that records what it receives,
  for tests that need "a client" (no threads: it runs in the test's trio run).
- ``rawclient``: Engine.IO/Socket.IO clients that write frames by hand, for tests of the
  exact frames and of what no client would send.
- ``waiting``: waiting for server state the test cannot subscribe to.

Free ports and the server's command line come from ``benchkit.processes``, which the
scripts share.
"""
