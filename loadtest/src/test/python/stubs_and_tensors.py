"""What the plain gRPC clients share, in the standard library alone: Python stubs generated from the
.proto files, and safetensors files read without numpy."""

import array
import json
import struct
import subprocess
import sys


def read_safetensors(path):
    """name -> (dtype, shape, raw bytes)."""
    with open(path, "rb") as f:
        (header_len,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(header_len))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        out[name] = (info["dtype"], info["shape"], data[start:end])
    return out


def values(dtype, raw):
    """Little-endian raw bytes as a list of numbers."""
    code = {"F32": "f", "I32": "i", "I64": "q"}[dtype]
    a = array.array(code)
    a.frombytes(raw)
    if sys.byteorder != "little":
        a.byteswap()
    return list(a)


def generate_stubs(proto_root, out_dir):
    protos = ["arrakis/v1/tensor.proto", "arrakis/v1/inference.proto"]
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I" + proto_root,
         "--python_out=" + out_dir, "--grpc_python_out=" + out_dir] + protos,
        check=True)
    sys.path.insert(0, out_dir)
