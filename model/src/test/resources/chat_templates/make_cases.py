"""Writes cases.json: each template here rendered by jinja2 set up as transformers' apply_chat_template
sets it up (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, raise_exception,
tojson as json.dumps(ensure_ascii=False)), for ChatTemplateTest to compare Jinjava's rendering with.
Run: python3 make_cases.py (jinja2 3.1)."""
import json
from pathlib import Path

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception

SPECIAL = {"bos_token": "<s>", "eos_token": "</s>"}
CHATS = {
    "plain": [{"role": "system", "content": "  You are terse.  "}, {"role": "user", "content": "Name a prime."}],
    "alternating": [
        {"role": "user", "content": "Hi there!"},
        {"role": "assistant", "content": "Hello. How can I help?"},
        {"role": "user", "content": "a b  c"},
    ],
    "thinking": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "<think>\nadd\n</think>\n\n4"},
        {"role": "user", "content": "<tool_response>ok</tool_response>"},
        {"role": "assistant", "content": "<think>\nthe tool said ok\n</think>\n\nDone."},
    ],
    "unicode": [{"role": "user", "content": "é \"q\" \\ 日本 🎉 {{ 7*7 }} {% if true %}x{% endif %}"}],
}
CASES = [
    ("alternating.jinja", "alternating", True, {}),
    ("alternating.jinja", "plain", True, {}),
    ("thinking.jinja", "thinking", True, {}),
    ("thinking.jinja", "thinking", False, {}),
    ("thinking.jinja", "plain", True, {"enable_thinking": False}),
    ("strings.jinja", "alternating", False, {}),
    ("strings.jinja", "unicode", False, {}),
    ("json.jinja", "unicode", False, {}),
    ("json.jinja", "plain", False, {}),
]

here = Path(__file__).parent
out = []
for template, chat, add_generation_prompt, variables in CASES:
    case = {"template": template, "chat": CHATS[chat], "add_generation_prompt": add_generation_prompt, "variables": variables}
    try:
        case["text"] = env.from_string((here / template).read_text()).render(
            messages=CHATS[chat], add_generation_prompt=add_generation_prompt, tools=None, documents=None,
            **SPECIAL, **variables)
    except jinja2.exceptions.TemplateError as e:
        case["raises"] = str(e)
    out.append(case)
(here / "cases.json").write_text(json.dumps({"jinja2": jinja2.__version__, "special_tokens": SPECIAL, "cases": out},
                                            ensure_ascii=False, indent=1) + "\n")
