// The official openai client against an Arrakis router's HTTP API: models.list(), a completion of
// token ids, and a streamed chat completion with its usage, both with log-probabilities, then the same conversation again
// (its usage counts the prompt tokens served from the prefix cache). Prints what it got as one JSON line;
// the JUnit test (HttpReferenceChecks) compares it with transformers' tokens.
//
//   ARRAKIS_BASE_URL=http://127.0.0.1:8000/v1 ARRAKIS_CHECK='{"model", "prompt_ids", "chat", "max_tokens"}' node check.mjs
import OpenAI from "openai";

const input = JSON.parse(process.env.ARRAKIS_CHECK);
const client = new OpenAI({
  baseURL: process.env.ARRAKIS_BASE_URL,
  apiKey: process.env.ARRAKIS_API_KEY ?? "no-key",
  maxRetries: 0,
  timeout: 120_000,
});

const models = [];
for await (const m of client.models.list()) {
  models.push(m.id);
}

const c = await client.completions.create({
  model: input.model,
  prompt: input.prompt_ids,
  max_tokens: input.max_tokens,
  temperature: 0,
  logprobs: 1,
  return_token_ids: true, // vLLM's extension, passed through as it is
});

const stream = await client.chat.completions.create({
  model: input.model,
  messages: input.chat,
  max_completion_tokens: input.max_tokens,
  temperature: 0,
  stream: true,
  stream_options: { include_usage: true },
  logprobs: true,
  top_logprobs: 2,
  return_token_ids: true,
});
let content = "";
let finish = null;
let usage = null;
let chunks = 0;
const tokenIds = [];
const logprobs = [];
for await (const chunk of stream) {
  chunks++;
  if (chunk.usage) {
    usage = chunk.usage;
  }
  for (const choice of chunk.choices) {
    content += choice.delta?.content ?? "";
    finish = choice.finish_reason ?? finish;
    tokenIds.push(...(choice.token_ids ?? []));
    logprobs.push(...(choice.logprobs?.content ?? []));
  }
}

// the same conversation again: its prompt's KV-cache blocks are cached now (prefix caching)
const again = await client.chat.completions.create({
  model: input.model,
  messages: input.chat,
  max_completion_tokens: 1,
  temperature: 0,
});

console.log(JSON.stringify({
  models,
  completion: {
    text: c.choices[0].text,
    token_ids: c.choices[0].token_ids,
    finish_reason: c.choices[0].finish_reason,
    token_logprobs: c.choices[0].logprobs?.token_logprobs,
    usage: c.usage,
  },
  chat: { content, token_ids: tokenIds, logprobs, finish_reason: finish, usage, chunks },
  again: { usage: again.usage },
}));
