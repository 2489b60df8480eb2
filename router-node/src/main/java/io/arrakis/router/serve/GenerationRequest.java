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
 * @param cacheSalt vLLM's {@code cache_salt}: the prompt's KV-cache blocks are shared only with
 *     requests of the same salt (null: with the unsalted ones), so that a tenant cannot time
 *     whether another's prompt began as its own
 * @param receivedNanos when the public API received it ({@link System#nanoTime}): where its time to
 *     first token and its end-to-end latency start, so that they count parsing, tokenizing and
 *     waiting for admission as the client does
 * @param deadlineNanos when the caller stops waiting ({@link System#nanoTime}); already cut to the
 *     server's maximum
 */
public record GenerationRequest(
    String requestId,
    Prompt prompt,
    Sampling sampling,
    String cacheSalt,
    long receivedNanos,
    long deadlineNanos) {
  /** The longest cache salt taken (vLLM suggests 43 characters, 256 random bits in base64). */
  public static final int MAX_CACHE_SALT = 256;

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
   * @param stops when generation ends
   * @param logprobs -1: none; 0 to {@link #MAX_LOGPROBS}: each generated token's log-probability,
   *     with those of this many most likely tokens
   * @param promptLogprobs -1: none; 0 to {@link #MAX_LOGPROBS}: the same for every prompt token
   *     after the first (vLLM's {@code prompt_logprobs}; an echo of OpenAI's completions)
   * @param adjustments penalties and biases on the logits before a token is picked
   */
  public record Sampling(
      long maxTokens,
      float temperature,
      float topP,
      long topK,
      OptionalLong seed,
      Stops stops,
      long logprobs,
      long promptLogprobs,
      Adjustments adjustments) {
    /** The most alternatives a request may ask log-probabilities of (as vLLM's default). */
    public static final int MAX_LOGPROBS = 20;

    public Sampling {
      Objects.requireNonNull(seed, "seed");
      Objects.requireNonNull(stops, "stops");
      Objects.requireNonNull(adjustments, "adjustments");
    }

    /** Greedy, up to {@code maxTokens} (0 = the default), stopping at eos. */
    public static Sampling greedy(long maxTokens) {
      return new Sampling(
          maxTokens, 0f, 1f, 0, OptionalLong.empty(), Stops.EOS, -1, -1, Adjustments.NONE);
    }

    public Sampling withStops(Stops s) {
      return new Sampling(
          maxTokens, temperature, topP, topK, seed, s, logprobs, promptLogprobs, adjustments);
    }

    public Sampling withAdjustments(Adjustments a) {
      return new Sampling(
          maxTokens, temperature, topP, topK, seed, stops, logprobs, promptLogprobs, a);
    }

    public Sampling withPromptLogprobs(long n) {
      return new Sampling(
          maxTokens, temperature, topP, topK, seed, stops, logprobs, n, adjustments);
    }
  }

  /**
   * When generation ends, besides {@code max_tokens} and the context.
   *
   * @param strings it ends before the first of these strings, which is not returned
   * @param tokenIds it ends at the first of these tokens, which is returned (vLLM's {@code
   *     stop_token_ids}; checked: ids in the vocabulary, at most {@link #MAX_STOP_TOKEN_IDS})
   * @param ignoreEos generate past the model's end-of-sequence tokens
   * @param minTokens none of the above ends it before this many tokens (vLLM's {@code min_tokens}:
   *     eos and the stop tokens are not picked, stop strings not looked for); 0 = none; at most
   *     {@code maxTokens}
   */
  public record Stops(
      List<String> strings, List<Integer> tokenIds, boolean ignoreEos, long minTokens) {
    /** The most stop tokens a request may give (this bounds its cost). */
    public static final int MAX_STOP_TOKEN_IDS = 1024;

    /** The model's end-of-sequence tokens only. */
    public static final Stops EOS = new Stops(List.of(), List.of(), false, 0);

    public Stops {
      strings = List.copyOf(strings);
      tokenIds = List.copyOf(tokenIds);
    }

    /** Nothing but max tokens and the context ends it. */
    public static Stops ignoringEos() {
      return new Stops(List.of(), List.of(), true, 0);
    }

    /** The stop strings and eos. */
    public static Stops strings(List<String> strings) {
      return new Stops(strings, List.of(), false, 0);
    }
  }

  /**
   * What is done to the logits before a token is picked (the log-probabilities returned are the
   * model's own).
   *
   * @param presencePenalty OpenAI's {@code presence_penalty} (0 = none; checked to be in [-2, 2])
   * @param frequencyPenalty OpenAI's {@code frequency_penalty} (0 = none; [-2, 2])
   * @param repetitionPenalty vLLM's {@code repetition_penalty} (1 = none; (0, 10])
   * @param logitBias OpenAI's {@code logit_bias}: token id to a value added to its logit (checked:
   *     ids in the vocabulary, values in [-100, 100], at most {@link #MAX_LOGIT_BIAS} entries)
   */
  public record Adjustments(
      float presencePenalty,
      float frequencyPenalty,
      float repetitionPenalty,
      Map<Integer, Float> logitBias) {
    /** The most tokens a request may bias (OpenAI's API does not say; this bounds its cost). */
    public static final int MAX_LOGIT_BIAS = 1024;

    public static final Adjustments NONE = new Adjustments(0f, 0f, 1f, Map.of());

    public Adjustments {
      logitBias = Map.copyOf(logitBias);
    }
  }
}
