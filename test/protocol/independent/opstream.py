#!/usr/bin/env python3
"""An independent decoder of Worldline's compact op stream (docs/protocol.md, "Compact ops"), written from the
document alone, in the language a Python engine client would use. Reads lines of hex (one op stream per line; a
blank line starts a new connection, forgetting path definitions) on stdin and prints one JSON array of RFC 6902
operations per line. The TypeScript tests feed it golden frames and compare its output with the source ops."""
import json
import struct
import sys

OPS = {1: "add", 2: "remove", 3: "replace", 4: "move", 5: "copy", 6: "test"}


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def u8(self):
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self):
        result, shift = 0, 0
        while True:
            b = self.u8()
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result
            shift += 7

    def take(self, n):
        if self.pos + n > len(self.data):
            raise ValueError("truncated")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def string(self):
        return self.take(self.varint()).decode("utf-8")


def value(r, tag):
    if tag == 0:
        return None
    if tag == 1:
        return False
    if tag == 2:
        return True
    if tag == 3:
        return r.varint()
    if tag == 4:
        return -r.varint() - 1
    if tag == 5:
        return struct.unpack("<f", r.take(4))[0]
    if tag == 6:
        return struct.unpack("<d", r.take(8))[0]
    if 7 <= tag <= 10:
        z = r.varint()
        m = z // 2 if z % 2 == 0 else -(z + 1) // 2
        return m / (10 ** (tag - 6))  # true division of exact integers: correctly rounded, like JavaScript's
    if tag == 11:
        return r.string()
    if tag == 12:
        return [value(r, r.u8()) for _ in range(r.varint())]
    if tag == 13:
        out = {}
        for _ in range(r.varint()):
            k = r.string()
            out[k] = value(r, r.u8())
        return out
    raise ValueError("unknown value tag %d" % tag)


def decode(data, paths):
    r, ops, prev = Reader(data), [], -1
    while r.pos < len(data):
        head = r.u8()
        code, nibble = head & 7, head >> 4
        if code == 0:
            ident = r.varint()
            paths[ident] = r.string()
            continue
        ident = prev + 1 if head & 8 else r.varint()
        prev = ident
        name = OPS[code]
        op = {"op": name}
        if name in ("move", "copy"):
            op["from"] = paths[r.varint()]
        op["path"] = paths[ident]
        if nibble:
            op["value"] = value(r, nibble - 1)
        ops.append(op)
    return ops


def main():
    paths = {}
    for line in sys.stdin:
        line = line.strip()
        if not line:
            paths = {}
            continue
        print(json.dumps(decode(bytes.fromhex(line), paths), ensure_ascii=False, allow_nan=True))


if __name__ == "__main__":
    main()
