package io.arrakis.router.http;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.arrakis.engine.generate.FinishReason;
import io.arrakis.engine.sampling.TokenLogprobs;
import io.arrakis.router.serve.GenerationListener;
import io.arrakis.router.serve.GenerationRequest;
import java.util.List;
import java.util.function.Function;
import java.util.function.IntFunction;

/**
 * The JSON of one request's answers, in OpenAI's shapes: a completion ({@code text_completion}) or
 * a chat completion ({@code chat.completion}), whole or as stream chunks ({@code
 * chat.completion.chunk}), with log-probabilities and vLLM's {@code token_ids} when asked for.
 */
final class ResponseShapes {
  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
  private final OpenAiRequest request;
  private final String id;
  private final String model;
  private final long created;
  private final LogprobsJson logprobs;
  private final Function<int[], String> decode;
  private int[] promptIds;
  private List<TokenLogprobs> promptLogprobs = List.of();

  /**
   * @param tokenText a token's text decoded alone, for log-probabilities
   * @param decode the text of token ids, for an echoed prompt given as ids
   */
  ResponseShapes(
      OpenAiRequest request,
      String id,
      String model,
      long createdSeconds,
      IntFunction<String> tokenText,
      Function<int[], String> decode) {
    this.request = request;
    this.id = id;
    this.model = model;
    this.created = createdSeconds;
    this.logprobs = request.sampling().logprobs() < 0 ? null : new LogprobsJson(tokenText);
    this.decode = decode;
  }

  /** The prompt's log-probabilities, for an echo: they lead the answer's. */
  void promptLogprobs(int[] ids, List<TokenLogprobs> logprobs) {
    this.promptIds = ids.clone();
    this.promptLogprobs = logprobs;
  }

  /** The whole answer of a request that was not streamed. */
  ObjectNode whole(
      int[] tokenIds,
      String text,
      List<TokenLogprobs> tokenLogprobs,
      GenerationListener.Finish finish) {
    ObjectNode root = head(request.chat() ? "chat.completion" : "text_completion");
    ObjectNode choice = root.putArray("choices").addObject();
    choice.put("index", 0);
    if (request.chat()) {
      choice.putObject("message").put("role", "assistant").put("content", text);
    } else {
      choice.put("text", request.echo() ? echoedPrompt() + text : text);
    }
    if (logprobs != null && promptIds != null) {
      choice.set("logprobs", logprobs.completion(promptIds, promptLogprobs, tokenLogprobs));
    } else {
      logprobs(choice, tokenLogprobs);
    }
    choice.put("finish_reason", reason(finish.reason()));
    tokenIds(choice, tokenIds);
    usage(root, finish);
    return root;
  }

  /** A chat stream's first chunk: the assistant's role, no content yet (as OpenAI sends it). */
  ObjectNode roleChunk() {
    ObjectNode root = head("chat.completion.chunk");
    ObjectNode choice = root.putArray("choices").addObject();
    choice.put("index", 0);
    choice.putObject("delta").put("role", "assistant").put("content", "");
    choice.putNull("logprobs");
    choice.putNull("finish_reason");
    if (request.returnTokenIds()) {
      choice.putArray("token_ids");
    }
    nullUsage(root);
    return root;
  }

  /** A stream chunk: new tokens and their text; {@code finish} on the last one, else null. */
  ObjectNode chunk(
      int[] tokenIds,
      String text,
      List<TokenLogprobs> tokenLogprobs,
      GenerationListener.Finish finish) {
    ObjectNode root = head(request.chat() ? "chat.completion.chunk" : "text_completion");
    ObjectNode choice = root.putArray("choices").addObject();
    choice.put("index", 0);
    if (request.chat()) {
      ObjectNode delta = choice.putObject("delta");
      if (!text.isEmpty() || finish == null) {
        delta.put("content", text);
      }
    } else {
      choice.put("text", text);
    }
    logprobs(choice, tokenLogprobs);
    if (finish == null) {
      choice.putNull("finish_reason");
    } else {
      choice.put("finish_reason", reason(finish.reason()));
    }
    tokenIds(choice, tokenIds);
    nullUsage(root);
    return root;
  }

  /**
   * The last chunk of a stream with {@code stream_options.include_usage}: no choices, the usage.
   */
  ObjectNode usageChunk(GenerationListener.Finish finish) {
    ObjectNode root = head(request.chat() ? "chat.completion.chunk" : "text_completion");
    root.putArray("choices");
    usage(root, finish);
    return root;
  }

  private ObjectNode head(String object) {
    ObjectNode root = NODES.objectNode();
    root.put("id", id);
    root.put("object", object);
    root.put("created", created);
    root.put("model", model);
    return root;
  }

  private String echoedPrompt() {
    return request.prompt() instanceof GenerationRequest.Prompt.Text t
        ? t.text()
        : decode.apply(((GenerationRequest.Prompt.TokenIds) request.prompt()).ids());
  }

  private void logprobs(ObjectNode choice, List<TokenLogprobs> tokens) {
    if (logprobs == null) {
      choice.putNull("logprobs");
    } else {
      choice.set("logprobs", request.chat() ? logprobs.chat(tokens) : logprobs.completion(tokens));
    }
  }

  private void tokenIds(ObjectNode choice, int[] ids) {
    if (request.returnTokenIds()) {
      ArrayNode a = choice.putArray("token_ids");
      for (int t : ids) {
        a.add(t);
      }
    }
  }

  /** OpenAI's streams say {@code "usage": null} on every chunk when the last one carries it. */
  private void nullUsage(ObjectNode root) {
    if (request.includeUsage()) {
      root.putNull("usage");
    }
  }

  private static void usage(ObjectNode root, GenerationListener.Finish finish) {
    ObjectNode usage =
        root.putObject("usage")
            .put("prompt_tokens", finish.promptTokens())
            .put("completion_tokens", finish.completionTokens())
            .put("total_tokens", finish.promptTokens() + finish.completionTokens());
    // OpenAI's place for the prompt tokens served from the prefix cache
    usage.putObject("prompt_tokens_details").put("cached_tokens", finish.cachedTokens());
  }

  private static String reason(FinishReason r) {
    return r == FinishReason.LENGTH ? "length" : "stop";
  }
}
