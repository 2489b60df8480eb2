package io.arrakis.router.serve;

import io.arrakis.model.tokenizer.ChatMessage;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalLong;

/**
 * One generation request as every public API hands it to {@link GenerationService}: gRPC {@code
 * Generate} today, OpenAI's HTTP API next. Fields are as the client sent them; the service checks
 * them (INVALID_ARGUMENT naming the field).
 *
 * @param requestId names the request in logs and errors (the caller bounds its length)
 * @param prompt text, token ids or a chat
 * @param sampling how tokens are picked and when generation stops
 * @param receivedNanos when the public API received it ({@link System#nanoTime}): where its time to
 *     first token and its end-to-end latency start, so that they count parsing, tokenizing and
 *     waiting for admission as the client does
 * @param deadlineNanos when the caller stops waiting ({@link System#nanoTime}); already cut to the
 *     server's maximum
 */
public record GenerationRequest(
    String requestId, Prompt prompt, Sampling sampling, long receivedNanos, long deadlineNanos) {
  public GenerationRequest {
    Objects.requireNonNull(requestId, "requestId");
    Objects.requireNonNull(prompt, "prompt");
    Objects.requireNonNull(sampling, "sampling");
  }

  /** What to continue. */
  public sealed interface Prompt {
    /** Text tokenized as is: no special tokens added. */
    record Text(String text) implements Prompt {}

    /** Token ids, each in the model's vocabulary. */
    record TokenIds(int[] ids) implements Prompt {}

    /** Messages rendered with the model's chat template and its generation prompt. */
    record Chat(List<ChatMessage> messages) implements Prompt {
      public Chat {
        messages = List.copyOf(messages);
      }
    }
  }

  /**
   * How to pick tokens.
   *
   * @param maxTokens tokens to generate at most; 0 = the server's default. Cut to what the context
   *     leaves
   * @param temperature 0 = greedy (ties to the lower id)
   * @param topP nucleus mass; 0 or 1 = all
   * @param topK sample among the k most likely; 0 = all
   * @param seed the same seed (with the same prompt and parameters) gives the same tokens
   * @param stop generation ends before the first of these strings, which is not returned
   * @param ignoreEos generate past the model's end-of-sequence tokens
   * @param logprobs -1: none; 0 to {@link #MAX_LOGPROBS}: each generated token's log-probability,
   *     with those of this many most likely tokens
   * @param promptLogprobs -1: none; 0 to {@link #MAX_LOGPROBS}: the same for every prompt token
   *     after the first (vLLM's {@code prompt_logprobs}; an echo of OpenAI's completions)
   * @param presencePenalty OpenAI's {@code presence_penalty} (0 = none; checked to be in [-2, 2])
   * @param frequencyPenalty OpenAI's {@code frequency_penalty} (0 = none; [-2, 2])
   * @param repetitionPenalty vLLM's {@code repetition_penalty} (1 = none; (0, 10])
   * @param logitBias OpenAI's {@code logit_bias}: token id to a value added to its logit (checked:
   *     ids in the vocabulary, values in [-100, 100], at most {@link #MAX_LOGIT_BIAS} entries)
   */
  public record Sampling(
      long maxTokens,
      float temperature,
      float topP,
      long topK,
      OptionalLong seed,
      List<String> stop,
      boolean ignoreEos,
      long logprobs,
      long promptLogprobs,
      float presencePenalty,
      float frequencyPenalty,
      float repetitionPenalty,
      Map<Integer, Float> logitBias) {
    /** The most alternatives a request may ask log-probabilities of (as vLLM's default). */
    public static final int MAX_LOGPROBS = 20;

    /** The most tokens a request may bias (OpenAI's API does not say; this bounds its cost). */
    public static final int MAX_LOGIT_BIAS = 1024;

    public Sampling {
      Objects.requireNonNull(seed, "seed");
      stop = List.copyOf(stop);
      logitBias = Map.copyOf(logitBias);
    }

    /** Without penalties. */
    public Sampling(
        long maxTokens,
        float temperature,
        float topP,
        long topK,
        OptionalLong seed,
        List<String> stop,
        boolean ignoreEos,
        long logprobs,
        long promptLogprobs) {
      this(
          maxTokens,
          temperature,
          topP,
          topK,
          seed,
          stop,
          ignoreEos,
          logprobs,
          promptLogprobs,
          0f,
          0f,
          1f,
          Map.of());
    }

    /** Greedy, up to {@code maxTokens} (0 = the default), stopping at eos. */
    public static Sampling greedy(long maxTokens) {
      return new Sampling(maxTokens, 0f, 1f, 0, OptionalLong.empty(), List.of(), false, -1, -1);
    }
  }
}
