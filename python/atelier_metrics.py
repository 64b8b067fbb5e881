"""Training metrics that Atelier's visualization jobs show, written without
TensorFlow or the tensorboard package (neither is in Debian).

Every training job finds this module on its PYTHONPATH:

    from atelier_metrics import SummaryWriter
    with SummaryWriter(os.path.join(args.train_url, "logs")) as w:
        for step in range(100):
            w.add_scalar("loss", loss, step)

It writes standard TensorBoard event files (TFRecord framing with masked
CRC32C, Event and Summary protobufs with scalar values), so TensorBoard
reads them too.
"""
import os
import socket
import struct
import time

try:
    from crc32c import crc32c as _crc32c  # Debian's python3-crc32c
except ImportError:  # not installed where the job runs: the table below
    _crc32c = None

_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _TABLE.append(_c)


def _crc(data):
    if _crc32c is not None:
        return _crc32c(data)
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _masked(data):
    c = _crc(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def _field_bytes(number, payload):
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload


def _event(wall_time, step, file_version=None, summary=None):
    e = b"\x09" + struct.pack("<d", wall_time) + b"\x10" + _varint(step & 0xFFFFFFFFFFFFFFFF)
    if file_version is not None:
        e += _field_bytes(3, file_version)
    if summary is not None:
        e += _field_bytes(5, summary)
    return e


class SummaryWriter:
    """Writes scalars to an event file in `logdir` (made if missing)."""

    def __init__(self, logdir, filename_suffix=""):
        os.makedirs(logdir, exist_ok=True)
        name = "events.out.tfevents.%d.%s%s" % (int(time.time()), socket.gethostname(), filename_suffix)
        self.path = os.path.join(logdir, name)
        self._f = open(self.path, "ab")
        self._write(_event(time.time(), 0, file_version=b"brain.Event:2"))

    def _write(self, event):
        length = struct.pack("<Q", len(event))
        self._f.write(length + struct.pack("<I", _masked(length)) + event + struct.pack("<I", _masked(event)))

    def add_scalar(self, tag, value, global_step=0, walltime=None):
        value = _field_bytes(1, tag.encode()) + b"\x15" + struct.pack("<f", float(value))
        self._write(_event(time.time() if walltime is None else walltime, int(global_step),
                           summary=_field_bytes(1, value)))
        self._f.flush()  # a viewer follows the file while the job runs

    def flush(self):
        self._f.flush()

    def close(self):
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
