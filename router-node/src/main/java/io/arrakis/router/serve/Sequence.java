package io.arrakis.router.serve;

import io.arrakis.engine.sampling.Sampler;
import io.arrakis.engine.sampling.SamplingParams;
import io.arrakis.engine.sampling.TokenLogprobs;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One request's sequence as the scheduler keeps it: its tokens (prompt, then generated), how many
 * of them the KV cache holds ({@code computed}), its sampler, and where it is (waiting, or running
 * in a micro-batch lane; in a step in flight or not). A preempted sequence drops its cache ({@code
 * computed} back to 0) and is prefilled again, prompt and generated tokens alike, when re-admitted:
 * recomputation, never a corrupted cache. Owned by the scheduler's thread.
 */
final class Sequence {
  final long id;

  /** Admission order: the newest (largest) is preempted first. */
  final long arrival;

  final PreparedRequest request;
  final SequenceOutput output;
  final Sampler sampler;
  private int[] tokens;
  private int length;
  int computed;

  /** The micro-batch lane it runs in, -1 while waiting. */
  int lane = -1;

  boolean inFlight;

  /**
   * Its request has been answered (finished, cancelled, expired); it goes once no step holds it.
   */
  boolean ended;

  /**
   * Log-probabilities of prompt tokens 1, 2, … (the first has none) as their positions are
   * computed; kept through a preemption, so that a recomputed position is not scored twice.
   */
  final List<TokenLogprobs> promptLogprobs = new ArrayList<>();

  int preemptions;

  /** Prompt tokens whose KV-cache blocks it reused when first admitted (prefix caching). */
  int cachedPromptTokens;

  long firstTokenNanos;
  long lastTokenNanos;

  Sequence(long id, long arrival, PreparedRequest request, SequenceOutput output) {
    this.id = id;
    this.arrival = arrival;
    this.request = request;
    this.output = output;
    this.sampler = new Sampler(request.params(), request.prompt());
    this.tokens =
        Arrays.copyOf(
            request.prompt(), request.prompt().length + Math.min(request.params().maxTokens(), 64));
    this.length = request.prompt().length;
  }

  SamplingParams params() {
    return request.params();
  }

  int length() {
    return length;
  }

  int promptLength() {
    return request.prompt().length;
  }

  int generated() {
    return length - promptLength();
  }

  /**
   * Whether its prefill chunks must return logits at every position: its request asked for prompt
   * log-probabilities and some are still to compute.
   */
  boolean scoresPrompt() {
    return request.promptLogprobs() >= 0 && promptLogprobs.size() < promptLength() - 1;
  }

  /**
   * Scores the prompt tokens that a chunk's positions predict ({@code logits}: one row of {@code
   * vocab} per position from {@code start}), skipping those scored before a preemption; true when
   * this completed the prompt's.
   */
  boolean scorePrompt(float[] logits, int start, int positions, int vocab) {
    int[] prompt = request.prompt();
    boolean scoring = scoresPrompt();
    for (int j = 0; j < positions; j++) {
      int p = start + j; // predicts prompt token p + 1
      if (p == promptLogprobs.size() && p + 1 < prompt.length) {
        promptLogprobs.add(
            TokenLogprobs.of(logits, j * vocab, vocab, prompt[p + 1], request.promptLogprobs()));
      }
    }
    return scoring && !scoresPrompt();
  }

  /** Tokens not yet in the KV cache: 1 while decoding, more while prefilling (or recomputing). */
  int pending() {
    return length - computed;
  }

  /**
   * Its tokens so far (prompt and generated), in an array that may run on past {@link #length}: not
   * a copy, to be read at once.
   */
  int[] tokensSoFar() {
    return tokens;
  }

  /** The next {@code count} tokens to compute. */
  int[] next(int count) {
    return Arrays.copyOfRange(tokens, computed, computed + count);
  }

  void append(int token) {
    if (length == tokens.length) {
      tokens = Arrays.copyOf(tokens, Math.max(length * 2, 16));
    }
    tokens[length++] = token;
  }

  /** Dropped from the KV cache: everything is computed again when it runs next. */
  void preempted() {
    computed = 0;
    lane = -1;
    preemptions++;
  }
}
