"""Sans-I/O codecs for Engine.IO 4 and Socket.IO 5: bytes and strings in, typed packets out.

Nothing in this package imports trio, awaits, sleeps or reads the clock, so every
decoder can be fuzzed and tested without a server.
"""
