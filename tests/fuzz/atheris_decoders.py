"""Coverage-guided fuzzing of every decoder with atheris (libFuzzer): typed errors only.

Run as a script: ``python tests/fuzz/atheris_decoders.py -runs=100000`` (any libFuzzer flag
works, e.g. ``-max_total_time=60`` or a corpus directory). The first input byte picks the
decoder, the rest is its input; anything but the protocol's own errors is a crash.
"""

import importlib
import sys
from typing import Any

from minidiscord.protocol import engineio, jsoncodec, socketio
from minidiscord.protocol.errors import ProtocolError


def decode_everything(data: bytes) -> None:
    if not data:
        return
    selector, body = data[0] % 5, data[1:]
    text = body.decode("utf-8", "surrogateescape")
    try:
        if selector == 0:
            engineio.decode_packet(text)
        elif selector == 1:
            for packet in engineio.decode_payload(body, max_packets=64):
                engineio.encode_packet(packet)
        elif selector == 2:
            jsoncodec.dumps(jsoncodec.loads(body))
        elif selector == 3:
            feed_decoder(body)
        else:
            decoded = socketio.Decoder().receive(text.encode("utf-8", "replace").decode())
            if decoded is not None:
                socketio.encode(decoded)
    except (ProtocolError, jsoncodec.JSONDecodeError):
        pass


def feed_decoder(body: bytes) -> None:
    """A message sequence: chunks split at 0xff; a chunk starting with 0x00 is binary."""
    decoder = socketio.Decoder(max_attachments=4)
    for chunk in body.split(b"\xff"):
        message: str | bytes = (
            chunk[1:] if chunk[:1] == b"\x00" else chunk.decode("utf-8", "replace")
        )
        packet = decoder.receive(message)
        if packet is not None:
            socketio.encode(packet)


def main() -> None:
    atheris: Any = importlib.import_module("atheris")
    atheris.instrument_all()
    atheris.Setup(sys.argv, decode_everything)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
