#!/usr/bin/env python3
"""A plain gRPC client of Arrakis' Generate, built from the .proto files alone.

Generates Python stubs from proto/src/main/proto with grpc_tools.protoc into a temporary folder,
streams greedy generations of a reference model's prompts (expected.json, made by Hugging Face
transformers) from a router's arrakis.v1.Inference/Generate (the ids form of every prompt, and the
chat form where there is one) and checks that the streamed token ids are exactly the expected greedy
tokens, that the last message alone carries finish_reason "length" and the usage, and that the text
deltas are valid UTF-8 (they are Python str). No Arrakis code.

Usage: generate_client.py --target HOST:PORT --proto-root DIR --model DIR
Prints one line per prompt and PASS or FAIL; exits 0 on PASS.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

DEADLINE_S = 60


def generate_stubs(proto_root, out_dir):
    protos = ["arrakis/v1/tensor.proto", "arrakis/v1/inference.proto"]
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I" + proto_root,
         "--python_out=" + out_dir, "--grpc_python_out=" + out_dir] + protos,
        check=True)
    sys.path.insert(0, out_dir)


def check(stub, inference_pb2, name, request, want):
    ids, text, finals, last = [], [], 0, None
    for message in stub.Generate(request, timeout=DEADLINE_S):
        ids.extend(message.token_ids)
        text.append(message.text)
        if message.finish_reason:
            finals += 1
        last = message
    problems = []
    if ids != want:
        problems.append("tokens %s, expected %s" % (ids, want))
    if last is None or last.finish_reason != "length" or finals != 1:
        problems.append("the last message must alone carry finish_reason 'length'")
    elif last.usage.completion_tokens != len(want):
        problems.append("usage.completion_tokens %d, expected %d" % (last.usage.completion_tokens, len(want)))
    if last is not None and last.request_id != request.request_id:
        problems.append("request_id %r, sent %r" % (last.request_id, request.request_id))
    print("%s: %d tokens, %d characters of text: %s" % (
        name, len(ids), len("".join(text)), "OK" if not problems else "; ".join(problems)))
    return not problems


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", required=True)
    p.add_argument("--proto-root", required=True)
    p.add_argument("--model", required=True)
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="arrakis-stubs-") as stubs:
        generate_stubs(args.proto_root, stubs)
        import grpc
        from arrakis.v1 import inference_pb2, inference_pb2_grpc

        with open(os.path.join(args.model, "expected.json")) as f:
            expected = json.load(f)
        ok = True
        with grpc.insecure_channel(args.target) as channel:
            stub = inference_pb2_grpc.InferenceStub(channel)
            for i, prompt in enumerate(expected["prompts"]):
                want = prompt["greedy"]
                sampling = inference_pb2.SamplingParams(max_tokens=len(want), temperature=0.0, ignore_eos=True)
                request = inference_pb2.GenerateRequest(
                    request_id="python-ids-%d" % i, token_ids=inference_pb2.TokenIds(ids=prompt["ids"]),
                    sampling=sampling)
                ok = check(stub, inference_pb2, "prompt %d (ids)" % i, request, want) and ok
                if "chat" in prompt:
                    chat = inference_pb2.ChatMessages(messages=[
                        inference_pb2.ChatMessage(role=m["role"], content=m["content"]) for m in prompt["chat"]])
                    request = inference_pb2.GenerateRequest(request_id="python-chat-%d" % i, chat=chat, sampling=sampling)
                    ok = check(stub, inference_pb2, "prompt %d (chat)" % i, request, want) and ok
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
