package io.arrakis.router.serve;

import io.arrakis.engine.sampling.Penalties;
import io.arrakis.engine.sampling.SamplingParams;
import io.arrakis.model.tokenizer.ChatTemplateException;
import io.arrakis.model.tokenizer.ModelTokenizer;
import io.arrakis.model.tokenizer.StopLimits;
import io.arrakis.model.tokenizer.StopStrings;
import io.arrakis.model.tokenizer.TokenizerException;
import io.grpc.Status;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Checks a {@link GenerationRequest} and turns it into token ids and sampling parameters: text
 * through the tokenizer (no special tokens added), a chat through the model's chat template with
 * the generation prompt, ids checked against the vocabulary; the prompt must leave room in the
 * context for one token at least, and max tokens is cut to what it leaves. A refusal names the
 * field. Thread-safe (the tokenizer is).
 */
final class PromptPreparer {
  private final ModelTokenizer tokenizer;
  private final ServedModel model;
  private final StopLimits stopLimits;
  private final Set<Integer> eos;
  private final int defaultMaxTokens;

  /**
   * @param tokenizer the model's, or null when it has no tokenizer.json (token ids only, no text
   *     out)
   * @param defaultMaxTokens max tokens of a request that says none
   */
  PromptPreparer(
      ModelTokenizer tokenizer, ServedModel model, StopLimits stopLimits, int defaultMaxTokens) {
    this.tokenizer = tokenizer;
    this.model = model;
    this.stopLimits = stopLimits;
    this.defaultMaxTokens =
        tokenizer == null
            ? defaultMaxTokens
            : tokenizer.generationDefaults().maxNewTokens().orElse(defaultMaxTokens);
    this.eos =
        tokenizer == null ? Set.of() : new HashSet<>(tokenizer.generationDefaults().eosTokenIds());
  }

  PreparedRequest prepare(GenerationRequest r, long arrivalNanos) throws GenerationRefused {
    GenerationRequest.Sampling s = r.sampling();
    if (!Float.isFinite(s.temperature()) || s.temperature() < 0) {
      throw GenerationRefused.invalid(
          "sampling.temperature must be a finite number >= 0, got " + s.temperature());
    }
    if (!(s.topP() >= 0 && s.topP() <= 1)) {
      throw GenerationRefused.invalid(
          "sampling.top_p must be in [0, 1] (0 or 1: all tokens), got " + s.topP());
    }
    if (s.maxTokens() < 0 || s.topK() < 0) {
      throw GenerationRefused.invalid("sampling.max_tokens and sampling.top_k must be >= 0");
    }
    checkPenalties(s.adjustments());
    checkLogitBias(s.adjustments().logitBias());
    checkStopTokens(s.stops().tokenIds());
    checkLogprobs("sampling.logprobs", s.logprobs());
    checkLogprobs("sampling.prompt_logprobs", s.promptLogprobs());
    StopStrings stops;
    try {
      stops = StopStrings.of(s.stops().strings(), stopLimits);
    } catch (IllegalArgumentException e) {
      throw GenerationRefused.invalid("sampling." + e.getMessage());
    }
    if (!stops.isEmpty() && tokenizer == null) {
      throw GenerationRefused.invalid(
          "sampling.stop needs text output, and this model has no tokenizer.json");
    }
    int[] ids = ids(r.prompt());
    if (ids.length == 0) {
      throw GenerationRefused.invalid("the prompt is empty (it encodes to no tokens)");
    }
    if (ids.length >= model.contextTokens()) {
      throw GenerationRefused.invalid(
          "the prompt has "
              + ids.length
              + " tokens; the context holds "
              + model.contextTokens()
              + ", and the prompt must leave room for at least one generated token");
    }
    long wanted = s.maxTokens() == 0 ? defaultMaxTokens : s.maxTokens();
    long minTokens = s.stops().minTokens();
    if (minTokens < 0 || minTokens > wanted) {
      throw GenerationRefused.invalid(
          "sampling.min_tokens must be between 0 and max_tokens ("
              + wanted
              + (s.maxTokens() == 0 ? ", the default" : "")
              + "), got "
              + minTokens);
    }
    int maxTokens = (int) Math.min(wanted, model.contextTokens() - ids.length);
    int topK = (int) Math.min(s.topK(), model.vocabSize());
    SamplingParams params =
        new SamplingParams(
            maxTokens,
            s.temperature(),
            topK,
            s.topP() == 0 ? 1f : s.topP(),
            s.seed(),
            Set.copyOf(s.stops().tokenIds()),
            eos,
            s.stops().ignoreEos(),
            (int) Math.min(minTokens, maxTokens), // a context that ends sooner ends it sooner
            (int) s.logprobs(), // checked above
            new Penalties(
                s.adjustments().presencePenalty(),
                s.adjustments().frequencyPenalty(),
                s.adjustments().repetitionPenalty()),
            s.adjustments().logitBias());
    return new PreparedRequest(
        r.requestId(),
        ids,
        params,
        stops,
        r.deadlineNanos(),
        arrivalNanos,
        (int) s.promptLogprobs(),
        cacheSalt(r.cacheSalt()));
  }

  private static String cacheSalt(String salt) throws GenerationRefused {
    if (salt != null && (salt.isEmpty() || salt.length() > GenerationRequest.MAX_CACHE_SALT)) {
      throw GenerationRefused.invalid(
          "cache_salt must be 1 to "
              + GenerationRequest.MAX_CACHE_SALT
              + " characters, got "
              + salt.length());
    }
    return salt;
  }

  private static void checkPenalties(GenerationRequest.Adjustments s) throws GenerationRefused {
    float most = Penalties.MAX_ADDITIVE;
    if (!(Math.abs(s.presencePenalty()) <= most)) {
      throw GenerationRefused.invalid(
          "sampling.presence_penalty must be in [-2, 2], got " + s.presencePenalty());
    }
    if (!(Math.abs(s.frequencyPenalty()) <= most)) {
      throw GenerationRefused.invalid(
          "sampling.frequency_penalty must be in [-2, 2], got " + s.frequencyPenalty());
    }
    if (!(s.repetitionPenalty() > 0 && s.repetitionPenalty() <= Penalties.MAX_REPETITION)) {
      throw GenerationRefused.invalid(
          "sampling.repetition_penalty must be in (0, 10] (1: none), got " + s.repetitionPenalty());
    }
  }

  private void checkLogitBias(Map<Integer, Float> bias) throws GenerationRefused {
    if (bias.size() > GenerationRequest.Adjustments.MAX_LOGIT_BIAS) {
      throw GenerationRefused.invalid(
          "sampling.logit_bias has "
              + bias.size()
              + " entries; at most "
              + GenerationRequest.Adjustments.MAX_LOGIT_BIAS
              + " are taken");
    }
    for (Map.Entry<Integer, Float> b : bias.entrySet()) {
      checkId("sampling.logit_bias", b.getKey());
      if (!(Math.abs(b.getValue()) <= SamplingParams.MAX_BIAS)) {
        throw GenerationRefused.invalid(
            "sampling.logit_bias: the bias of token "
                + b.getKey()
                + " must be in [-100, 100], got "
                + b.getValue());
      }
    }
  }

  private void checkStopTokens(List<Integer> ids) throws GenerationRefused {
    if (ids.size() > GenerationRequest.Stops.MAX_STOP_TOKEN_IDS) {
      throw GenerationRefused.invalid(
          "sampling.stop_token_ids has "
              + ids.size()
              + " ids; at most "
              + GenerationRequest.Stops.MAX_STOP_TOKEN_IDS
              + " are taken");
    }
    for (int id : ids) {
      checkId("sampling.stop_token_ids", id);
    }
  }

  /** A token id a client named in {@code field} (an int from an unsigned wire field). */
  private void checkId(String field, int id) throws GenerationRefused {
    if (id < 0 || id >= model.vocabSize()) {
      throw GenerationRefused.invalid(
          field
              + ": token id "
              + Integer.toUnsignedString(id)
              + " is outside the vocabulary (0.."
              + (model.vocabSize() - 1)
              + ")");
    }
  }

  private static void checkLogprobs(String field, long n) throws GenerationRefused {
    if (n < -1 || n > GenerationRequest.Sampling.MAX_LOGPROBS) {
      throw GenerationRefused.invalid(
          field
              + " must be between 0 and "
              + GenerationRequest.Sampling.MAX_LOGPROBS
              + " (absent: none), got "
              + n);
    }
  }

  private int[] ids(GenerationRequest.Prompt prompt) throws GenerationRefused {
    if (prompt instanceof GenerationRequest.Prompt.TokenIds t) {
      int[] ids = t.ids();
      for (int i = 0; i < ids.length; i++) {
        if (ids[i] < 0 || ids[i] >= model.vocabSize()) {
          throw GenerationRefused.invalid(
              "token_ids["
                  + i
                  + "] = "
                  + Integer.toUnsignedString(ids[i])
                  + " is outside the vocabulary (0.."
                  + (model.vocabSize() - 1)
                  + ")");
        }
      }
      return ids.clone();
    }
    if (tokenizer == null) {
      throw GenerationRefused.invalid(
          "this model has no tokenizer.json: send the prompt as token_ids");
    }
    try {
      if (prompt instanceof GenerationRequest.Prompt.Text t) {
        return tokenizer.encodePrompt(t.text());
      }
      GenerationRequest.Prompt.Chat chat = (GenerationRequest.Prompt.Chat) prompt;
      if (chat.messages().isEmpty()) {
        throw GenerationRefused.invalid("chat.messages is empty");
      }
      return tokenizer.encodeChat(chat.messages());
    } catch (ChatTemplateException e) {
      Status status =
          e.reason() == ChatTemplateException.Reason.TEMPLATE_ERROR
              ? Status.INTERNAL
              : Status.INVALID_ARGUMENT;
      throw new GenerationRefused(status.withDescription("chat: " + e.getMessage()));
    } catch (TokenizerException | IllegalArgumentException e) {
      throw GenerationRefused.invalid("prompt: " + e.getMessage());
    }
  }
}
