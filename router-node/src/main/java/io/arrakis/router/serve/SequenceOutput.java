package io.arrakis.router.serve;

import io.arrakis.engine.generate.FinishReason;
import io.arrakis.engine.sampling.TokenLogprobs;
import io.arrakis.model.tokenizer.IncrementalDetokenizer;
import io.arrakis.model.tokenizer.StopMatcher;
import io.arrakis.model.tokenizer.StopStrings;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * One sequence's way out: its new tokens turned into text deltas of whole characters (the
 * incremental detokenizer), held back while they may still become a stop string (the stop matcher),
 * and handed to the request's listener: a chunk per step, then the last one with the finish. Ends
 * once. Runs on the scheduler's thread.
 */
final class SequenceOutput {
  private final GenerationListener listener;
  private final IncrementalDetokenizer detokenizer;
  private final int tokenizerVocab;
  private final StopMatcher stop;
  private int[] tokens = new int[4];
  private int count;
  private final StringBuilder text = new StringBuilder();
  private final List<TokenLogprobs> logprobs = new ArrayList<>();
  private boolean ended;

  /** Whether the last token taken came after the sequence's min tokens. */
  private boolean mayStop = true;

  /**
   * @param detokenizer null for a model without a tokenizer (ids only, no text)
   * @param tokenizerVocab ids at or past it have no text (a model's vocabulary may be padded past
   *     its tokenizer's)
   */
  SequenceOutput(
      GenerationListener listener,
      IncrementalDetokenizer detokenizer,
      int tokenizerVocab,
      StopStrings stops) {
    this.listener = listener;
    this.detokenizer = detokenizer;
    this.tokenizerVocab = tokenizerVocab;
    this.stop = stops.newMatcher();
  }

  /**
   * Takes a new token, with its log-probabilities when the request asked for them (else null);
   * returns {@link FinishReason#STOP} when its text completes a stop string, if {@code mayStop}
   * (the sequence has its min tokens).
   */
  Optional<FinishReason> accept(int token, TokenLogprobs logprob, boolean mayStop) {
    this.mayStop = mayStop;
    if (logprob != null) {
      logprobs.add(logprob);
    }
    if (count == tokens.length) {
      tokens = Arrays.copyOf(tokens, count * 2);
    }
    tokens[count++] = token;
    if (detokenizer != null && token >= 0 && token < tokenizerVocab) {
      text.append(stop.feed(detokenizer.next(token), mayStop));
    }
    return stop.stopped() ? Optional.of(FinishReason.STOP) : Optional.empty();
  }

  /** Hands the prompt's log-probabilities on, once they are all computed. */
  void promptLogprobs(int[] promptIds, List<TokenLogprobs> logprobs) {
    if (!ended) {
      listener.onPromptLogprobs(promptIds, List.copyOf(logprobs));
    }
  }

  /** Sends what was taken since the last chunk. */
  void emit() {
    if (!ended && count > 0) {
      listener.onTokens(Arrays.copyOf(tokens, count), text.toString(), List.copyOf(logprobs));
      count = 0;
      text.setLength(0);
      logprobs.clear();
    }
  }

  /** The last chunk: text held back comes out (unless a stop string ended it), with the finish. */
  void finish(FinishReason reason, int promptTokens, int completionTokens, int cachedTokens) {
    if (ended) {
      return;
    }
    ended = true;
    if (detokenizer != null && !stop.stopped() && reason != FinishReason.CANCELLED) {
      text.append(stop.feed(detokenizer.flush(), mayStop));
      if (stop.stopped()) {
        reason = FinishReason.STOP;
      } else {
        text.append(stop.flush());
      }
    }
    listener.onFinished(
        Arrays.copyOf(tokens, count),
        text.toString(),
        List.copyOf(logprobs),
        new GenerationListener.Finish(reason, promptTokens, completionTokens, cachedTokens));
  }

  void fail(Status status) {
    if (!ended) {
      ended = true;
      listener.onFailed(status);
    }
  }

  boolean ended() {
    return ended;
  }
}
