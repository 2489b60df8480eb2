#!/usr/bin/env python3
"""A plain gRPC client of Arrakis' Generate, built from the .proto files alone.

Generates Python stubs from proto/src/main/proto with grpc_tools.protoc into a temporary folder,
streams greedy generations of a reference model's prompts (expected.json, made by Hugging Face
transformers) from a router's arrakis.v1.Inference/Generate (the ids form of every prompt, and the
chat form where there is one) and checks that the streamed token ids are exactly the expected greedy
tokens, that the last message alone carries finish_reason "length" and the usage, and that the text
deltas are valid UTF-8 (they are Python str). The ids requests ask for log-probabilities: each
token's must be the log-softmax of the logits transformers chose it from (gen_logits_P of
expected.safetensors, read with the standard library), within 2e-4, and each prompt token's after
the first that of the logits at the position before it (logits_P). No Arrakis code.

Usage: generate_client.py --target HOST:PORT --proto-root DIR --model DIR
Prints one line per prompt and PASS or FAIL; exits 0 on PASS.
"""

import argparse
import json
import math
import os
import sys
import tempfile

from stubs_and_tensors import generate_stubs, read_safetensors, values

DEADLINE_S = 60
LOGPROB_TOLERANCE = 2e-4  # the reference logits agree within 1e-4; the log-sum adds as much again
TOP = 2


def log_softmax(row):
    m = max(row)
    log_sum = m + math.log(sum(math.exp(x - m) for x in row))
    return [x - log_sum for x in row]


def check(stub, inference_pb2, name, request, want, logits=None, prompt=None, prompt_logits=None):
    ids, text, finals, last, logprobs, first = [], [], 0, None, [], None
    for message in stub.Generate(request, timeout=DEADLINE_S):
        if first is None:
            first = message
        ids.extend(message.token_ids)
        text.append(message.text)
        logprobs.extend(message.logprobs)
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
    if logits is not None:
        problems.extend(check_logprobs(logprobs, want, logits))
    if prompt_logits is not None:
        # prompt token k + 1 is scored by the logits at position k
        problems.extend("prompt " + p for p in check_logprobs(
            list(first.prompt_logprobs) if first else [], prompt[1:], prompt_logits))
    if last is not None and last.request_id != request.request_id:
        problems.append("request_id %r, sent %r" % (last.request_id, request.request_id))
    print("%s: %d tokens, %d characters of text: %s" % (
        name, len(ids), len("".join(text)), "OK" if not problems else "; ".join(problems)))
    return not problems


def check_logprobs(got, want, logits):
    """Each token's log-probability and its TOP alternatives' against transformers' logits."""
    dtype, shape, raw = logits
    flat = values(dtype, raw)
    vocab = shape[1]
    if len(got) != len(want):
        return ["%d log-probabilities for %d tokens" % (len(got), len(want))]
    problems = []
    for t, (lp, token) in enumerate(zip(got, want)):
        expected = log_softmax(flat[t * vocab:(t + 1) * vocab])
        ranked = sorted(expected, reverse=True)
        if lp.token_id != token or abs(lp.logprob - expected[token]) > LOGPROB_TOLERANCE:
            problems.append("step %d: token %d logprob %.6f, expected token %d logprob %.6f" % (
                t, lp.token_id, lp.logprob, token, expected[token]))
        if len(lp.top_token_ids) != TOP or any(
                abs(v - ranked[k]) > LOGPROB_TOLERANCE or abs(v - expected[i]) > LOGPROB_TOLERANCE
                for k, (i, v) in enumerate(zip(lp.top_token_ids, lp.top_logprobs))):
            problems.append("step %d: top %s %s, expected the values %s" % (
                t, list(lp.top_token_ids), list(lp.top_logprobs), ranked[:TOP]))
    return problems


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
        tensors = read_safetensors(os.path.join(args.model, "expected.safetensors"))
        ok = True
        with grpc.insecure_channel(args.target) as channel:
            stub = inference_pb2_grpc.InferenceStub(channel)
            for i, prompt in enumerate(expected["prompts"]):
                want = prompt["greedy"]
                sampling = inference_pb2.SamplingParams(max_tokens=len(want), temperature=0.0, ignore_eos=True)
                with_logprobs = inference_pb2.SamplingParams(
                    max_tokens=len(want), temperature=0.0, ignore_eos=True, logprobs=TOP,
                    prompt_logprobs=TOP)
                request = inference_pb2.GenerateRequest(
                    request_id="python-ids-%d" % i, token_ids=inference_pb2.TokenIds(ids=prompt["ids"]),
                    sampling=with_logprobs)
                ok = check(stub, inference_pb2, "prompt %d (ids)" % i, request, want,
                           tensors["gen_logits_%d" % i], prompt["ids"], tensors["logits_%d" % i]) and ok
                if "chat" in prompt:
                    chat = inference_pb2.ChatMessages(messages=[
                        inference_pb2.ChatMessage(role=m["role"], content=m["content"]) for m in prompt["chat"]])
                    request = inference_pb2.GenerateRequest(request_id="python-chat-%d" % i, chat=chat, sampling=sampling)
                    ok = check(stub, inference_pb2, "prompt %d (chat)" % i, request, want) and ok
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
