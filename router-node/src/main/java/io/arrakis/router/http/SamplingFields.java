package io.arrakis.router.http;

import static io.arrakis.router.http.JsonFields.abbreviate;
import static io.arrakis.router.http.JsonFields.bool;
import static io.arrakis.router.http.JsonFields.integer;
import static io.arrakis.router.http.JsonFields.number;
import static io.arrakis.router.http.JsonFields.present;

import com.fasterxml.jackson.databind.JsonNode;
import io.arrakis.engine.sampling.Penalties;
import io.arrakis.engine.sampling.SamplingParams;
import io.arrakis.router.serve.GenerationRequest;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * A request body's fields on when generation stops ({@code stop}, {@code stop_token_ids}, {@code
 * ignore_eos}, {@code min_tokens}) and on the logits before a token is picked (the penalties,
 * {@code logit_bias}), checked as far as the body can be: whether token ids are in the vocabulary,
 * and min tokens against the max, the generation service checks.
 */
final class SamplingFields {
  private SamplingFields() {}

  /**
   * @param maxStopStrings stop strings one request may give (the serving limit)
   */
  static GenerationRequest.Stops stops(JsonNode root, int maxStopStrings) throws ApiError {
    long minTokens = integer(root, "min_tokens", 0);
    if (minTokens < 0) {
      throw ApiError.invalid("min_tokens", "min_tokens must be >= 0, got " + minTokens);
    }
    return new GenerationRequest.Stops(
        stop(root.get("stop"), maxStopStrings),
        stopTokenIds(root),
        bool(root, "ignore_eos"),
        minTokens);
  }

  static GenerationRequest.Adjustments adjustments(JsonNode root) throws ApiError {
    return new GenerationRequest.Adjustments(
        (float) number(root, "presence_penalty", 0, -2, 2),
        (float) number(root, "frequency_penalty", 0, -2, 2),
        repetitionPenalty(root),
        logitBias(root));
  }

  /** vLLM's {@code stop_token_ids}: an array of token ids. */
  private static List<Integer> stopTokenIds(JsonNode root) throws ApiError {
    JsonNode n = present(root, "stop_token_ids");
    if (n == null) {
      return List.of();
    }
    if (!n.isArray()) {
      throw ApiError.invalid("stop_token_ids", "stop_token_ids must be an array of token ids");
    }
    int max = GenerationRequest.Stops.MAX_STOP_TOKEN_IDS;
    if (n.size() > max) {
      throw ApiError.invalid(
          "stop_token_ids",
          "stop_token_ids holds " + n.size() + " ids; at most " + max + " are taken");
    }
    List<Integer> ids = new ArrayList<>(n.size());
    for (int i = 0; i < n.size(); i++) {
      JsonNode t = n.get(i);
      if (!t.isIntegralNumber() || !t.canConvertToInt() || t.asInt() < 0) {
        throw ApiError.invalid(
            "stop_token_ids",
            "stop_token_ids["
                + i
                + "] must be a token id (an integer >= 0), got "
                + abbreviate(t.toString()));
      }
      ids.add(t.asInt());
    }
    return ids;
  }

  private static List<String> stop(JsonNode s, int maxStopStrings) throws ApiError {
    if (s == null || s.isNull()) {
      return List.of();
    }
    if (s.isTextual()) {
      return List.of(s.asText());
    }
    if (!s.isArray()) {
      throw ApiError.invalid("stop", "stop must be a string or an array of strings");
    }
    if (s.size() > maxStopStrings) {
      throw ApiError.invalid(
          "stop",
          "stop holds "
              + s.size()
              + " strings; at most "
              + maxStopStrings
              + " are taken (arrakis.router.serve.max-stop-strings)");
    }
    List<String> out = new ArrayList<>(s.size());
    for (int i = 0; i < s.size(); i++) {
      if (!s.get(i).isTextual()) {
        throw ApiError.invalid("stop", "stop[" + i + "] must be a string");
      }
      out.add(s.get(i).asText());
    }
    return out;
  }

  /**
   * OpenAI's {@code logit_bias}: an object from token ids (as strings) to a value in [-100, 100];
   * whether the ids are in the vocabulary the service checks.
   */
  private static Map<Integer, Float> logitBias(JsonNode root) throws ApiError {
    JsonNode n = present(root, "logit_bias");
    if (n == null) {
      return Map.of();
    }
    if (!n.isObject()) {
      throw ApiError.invalid("logit_bias", "logit_bias must be an object of token ids to numbers");
    }
    if (n.size() > GenerationRequest.Adjustments.MAX_LOGIT_BIAS) {
      throw ApiError.invalid(
          "logit_bias",
          "logit_bias has "
              + n.size()
              + " entries; at most "
              + GenerationRequest.Adjustments.MAX_LOGIT_BIAS
              + " are taken");
    }
    Map<Integer, Float> bias = new HashMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      int id;
      try {
        id = Integer.parseInt(e.getKey());
      } catch (NumberFormatException notAnId) {
        id = -1;
      }
      if (id < 0) {
        throw ApiError.invalid(
            "logit_bias", "logit_bias keys are token ids, got \"" + abbreviate(e.getKey()) + "\"");
      }
      JsonNode v = e.getValue();
      if (!v.isNumber() || !(Math.abs(v.asDouble()) <= SamplingParams.MAX_BIAS)) {
        throw ApiError.invalid(
            "logit_bias",
            "logit_bias values must be numbers in [-100, 100], got "
                + abbreviate(v.toString())
                + " for token "
                + id);
      }
      bias.put(id, (float) v.asDouble());
    }
    return bias;
  }

  /** vLLM's {@code repetition_penalty}: above 0, at most 10; 1 (the default) is none. */
  private static float repetitionPenalty(JsonNode root) throws ApiError {
    double r = number(root, "repetition_penalty", 1, 0, Penalties.MAX_REPETITION);
    if (r == 0) {
      throw ApiError.invalid(
          "repetition_penalty", "repetition_penalty must be above 0 and at most 10 (1: none)");
    }
    return (float) r;
  }
}
