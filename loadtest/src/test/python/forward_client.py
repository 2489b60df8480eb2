#!/usr/bin/env python3
"""A plain gRPC client of Arrakis, built from the .proto files alone.

Generates Python stubs from proto/src/main/proto with grpc_tools.protoc into a temporary folder,
sends a fixture's hidden states to a router's arrakis.v1.Inference/Forward and compares the answer
with the fixture's expected output (|got - expected| <= 1e-4 * max|expected|) and top-k ids
(identical). Reads the safetensors files itself: no Arrakis code, no numpy.

Usage: forward_client.py --target HOST:PORT --proto-root DIR --fixture DIR [--layer L ...]
Prints one line per layer and PASS or FAIL; exits 0 on PASS.
"""

import argparse
import json
import os
import sys
import tempfile

from stubs_and_tensors import generate_stubs, read_safetensors, values

TOLERANCE = 1e-4
WEIGHT_TOLERANCE = 1e-5
DEADLINE_S = 30


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", required=True)
    p.add_argument("--proto-root", required=True)
    p.add_argument("--fixture", required=True)
    p.add_argument("--layer", type=int, action="append")
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="arrakis-stubs-") as stubs:
        generate_stubs(args.proto_root, stubs)
        import grpc
        from arrakis.v1 import inference_pb2, inference_pb2_grpc, tensor_pb2

        with open(os.path.join(args.fixture, "config.json")) as f:
            config = json.load(f)
        inputs = read_safetensors(os.path.join(args.fixture, "input.safetensors"))
        dtype, shape, raw = inputs["hidden_states"]
        assert dtype == "F32" and len(shape) == 2, "hidden_states must be F32 [T, d]"
        tokens, hidden = shape
        k = config["num_experts_per_tok"]

        layers = args.layer or [int(n[len("expected-layer"):-len(".safetensors")])
                                for n in sorted(os.listdir(args.fixture)) if n.startswith("expected-layer")]
        ok = True
        with grpc.insecure_channel(args.target) as channel:
            stub = inference_pb2_grpc.InferenceStub(channel)
            info = stub.GetModel(inference_pb2.GetModelRequest(), timeout=DEADLINE_S)
            if info.hidden_size != hidden or info.num_experts != config["num_local_experts"] or info.top_k != k:
                print("FAIL GetModel: hidden %d, experts %d, top-k %d; the fixture says %d, %d, %d" % (
                    info.hidden_size, info.num_experts, info.top_k, hidden, config["num_local_experts"], k))
                ok = False
            for layer in layers:
                request = inference_pb2.ForwardRequest(
                    request_id="python-%d" % layer, layer=layer, return_routing=True,
                    hidden_states=tensor_pb2.Tensor(dtype=tensor_pb2.FLOAT32, shape=[tokens, hidden], data=raw))
                response = stub.Forward(request, timeout=DEADLINE_S)
                expected = read_safetensors(os.path.join(args.fixture, "expected-layer%d.safetensors" % layer))
                want = values(*expected["output"][::2])
                want_ids = values(*expected["topk_ids"][::2])
                want_w = values(*expected["topk_weights"][::2])
                problems = []
                if response.request_id != request.request_id:
                    problems.append("request_id %r, sent %r" % (response.request_id, request.request_id))
                if response.output.dtype != tensor_pb2.FLOAT32 or list(response.output.shape) != [tokens, hidden]:
                    problems.append("output %s %s, want FLOAT32 [%d, %d]" % (
                        tensor_pb2.DType.Name(response.output.dtype), list(response.output.shape), tokens, hidden))
                    got = []
                else:
                    got = values("F32", response.output.data)
                scale = max(abs(v) for v in want)
                diff = max((abs(a - b) for a, b in zip(got, want)), default=float("inf"))
                if diff > TOLERANCE * scale:
                    problems.append("max |got - expected| %.3g > %.3g" % (diff, TOLERANCE * scale))
                if response.topk_ids.dtype != tensor_pb2.INT32 or list(response.topk_ids.shape) != [tokens, k]:
                    problems.append("topk_ids %s %s, want INT32 [%d, %d]" % (
                        tensor_pb2.DType.Name(response.topk_ids.dtype), list(response.topk_ids.shape), tokens, k))
                elif values("I32", response.topk_ids.data) != want_ids:
                    problems.append("top-k ids differ")
                got_w = values("F32", response.topk_weights.data) if response.topk_weights.dtype == tensor_pb2.FLOAT32 else []
                w_diff = max((abs(a - b) for a, b in zip(got_w, want_w)), default=float("inf")) if len(got_w) == len(want_w) else float("inf")
                if w_diff > WEIGHT_TOLERANCE:
                    problems.append("top-k weights differ by %.3g" % w_diff)
                print("layer %d: %d tokens, max |diff| %.3g (tolerance %.3g), top-k weights within %.3g: %s" % (
                    layer, tokens, diff, TOLERANCE * scale, w_diff, "OK" if not problems else "; ".join(problems)))
                ok = ok and not problems
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
