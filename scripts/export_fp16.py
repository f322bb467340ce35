#!/usr/bin/env python3
"""Rewrites a safetensors file with every F32 tensor stored as F16 (standard library only).

usage: export_fp16.py IN.safetensors OUT.safetensors

Used to ship the embedded model in data/ at half the size; lth loads F16 tensors and computes in
float32. Written to OUT.tmp, then renamed.
"""
import json, os, struct, sys
from array import array


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    src, dst = sys.argv[1:]
    with open(src, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        out_header, blobs, offset = {}, [], 0
        for name, meta in header.items():
            if name == "__metadata__":
                out_header[name] = meta
                continue
            start, end = meta["data_offsets"]
            f.seek(base + start)
            raw = f.read(end - start)
            dtype = meta["dtype"]
            if dtype == "F32":
                values = array("f")
                values.frombytes(raw)
                raw = b"".join(struct.pack("<%de" % len(values[i:i + 65536]), *values[i:i + 65536])
                               for i in range(0, len(values), 65536))
                dtype = "F16"
            out_header[name] = {"dtype": dtype, "shape": meta["shape"], "data_offsets": [offset, offset + len(raw)]}
            blobs.append(raw)
            offset += len(raw)
    text = json.dumps(out_header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    tmp = dst + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, dst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
