package io.arrakis.loadtest.serve;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;
import java.util.function.Consumer;
import java.util.function.IntConsumer;

/**
 * One streamed OpenAI-compatible completion ({@code stream: true}, {@code return_token_ids}) as its
 * client sees it: each SSE chunk's arrival and token ids (counted, as vLLM's benchmark counts
 * chunks), its text, how it ended. A non-200 answer fails the call as "HTTP status"; a stream that
 * ends without {@code data: [DONE]} or with an error chunk fails too.
 */
public final class CompletionCall implements StreamedCall, Flow.Subscriber<String> {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final TokenArrivals arrivals = new TokenArrivals(System.nanoTime());
  private final StringBuilder text = new StringBuilder();
  private final List<Integer> ids = new ArrayList<>();
  private final CompletableFuture<CompletionCall> done = new CompletableFuture<>();
  private final IntConsumer onTokens;
  private final Consumer<String> onText;
  private final boolean chat;
  private int tokens;
  private boolean sawDone;
  private String failure;
  private String finishReason = "";

  private CompletionCall(boolean chat, IntConsumer onTokens, Consumer<String> onText) {
    this.chat = chat;
    this.onTokens = onTokens;
    this.onText = onText;
  }

  /**
   * Sends {@code request} (a POST to /v1/completions or /v1/chat/completions, {@code chat} saying
   * which) on {@code client}; {@code onTokens} hears each chunk's token count as it arrives.
   */
  public static CompletionCall start(
      HttpClient client, HttpRequest request, boolean chat, IntConsumer onTokens) {
    return start(client, request, chat, onTokens, text -> {});
  }

  /** As {@link #start}, {@code onText} hearing each chunk's text as it arrives. */
  public static CompletionCall start(
      HttpClient client,
      HttpRequest request,
      boolean chat,
      IntConsumer onTokens,
      Consumer<String> onText) {
    CompletionCall c = new CompletionCall(chat, onTokens, onText);
    client
        .sendAsync(request, c::handler)
        .whenComplete(
            (response, e) -> {
              if (e != null) {
                c.fail("CONNECTION", e.getCause() != null ? e.getCause() : e);
              }
            });
    return c;
  }

  private HttpResponse.BodySubscriber<Void> handler(HttpResponse.ResponseInfo info) {
    if (info.statusCode() == 200) {
      return HttpResponse.BodySubscribers.fromLineSubscriber(this);
    }
    return HttpResponse.BodySubscribers.mapping(
        HttpResponse.BodySubscribers.ofString(StandardCharsets.UTF_8),
        body -> {
          end("HTTP " + info.statusCode());
          return null;
        });
  }

  @Override
  public void onSubscribe(Flow.Subscription subscription) {
    subscription.request(Long.MAX_VALUE);
  }

  @Override
  public synchronized void onNext(String line) {
    if (!line.startsWith("data:") || failure != null) {
      return; // blank separators and comments
    }
    String data = line.substring(5).strip();
    if (data.equals("[DONE]")) {
      sawDone = true;
      return;
    }
    JsonNode chunk;
    try {
      chunk = JSON.readTree(data);
    } catch (JacksonException e) {
      failure = "BAD CHUNK";
      return;
    }
    if (chunk.has("error")) {
      failure = "STREAM ERROR";
      return;
    }
    for (JsonNode choice : chunk.path("choices")) {
      int n = choice.path("token_ids").size();
      choice.path("token_ids").forEach(id -> ids.add(id.asInt()));
      if (n > 0) {
        arrivals.add(System.nanoTime(), n);
        tokens += n;
        onTokens.accept(n);
      }
      String delta =
          chat ? choice.path("delta").path("content").asText("") : choice.path("text").asText("");
      if (!delta.isEmpty()) {
        text.append(delta);
        onText.accept(delta);
      }
      if (choice.hasNonNull("finish_reason")) {
        finishReason = choice.get("finish_reason").asText();
      }
    }
  }

  @Override
  public void onError(Throwable t) {
    fail("CONNECTION", t);
  }

  @Override
  public void onComplete() {
    String f;
    synchronized (this) {
      f = failure != null ? failure : sawDone ? null : "NO [DONE]";
    }
    end(f);
  }

  private void fail(String kind, Throwable t) {
    end(kind + ": " + t.getClass().getSimpleName());
  }

  private void end(String why) {
    synchronized (this) {
      if (done.isDone()) {
        return;
      }
      failure = why;
    }
    arrivals.end(System.nanoTime());
    done.complete(this);
  }

  @Override
  public CompletableFuture<CompletionCall> done() {
    return done;
  }

  @Override
  public synchronized boolean ok() {
    return done.isDone() && failure == null;
  }

  @Override
  public synchronized String failure() {
    return failure;
  }

  @Override
  public synchronized int tokenCount() {
    return tokens;
  }

  /** The token ids received ({@code return_token_ids}), in order. */
  public synchronized int[] tokenIds() {
    return ids.stream().mapToInt(Integer::intValue).toArray();
  }

  public synchronized String text() {
    return text.toString();
  }

  public synchronized String finishReason() {
    return finishReason;
  }

  @Override
  public TokenArrivals arrivals() {
    return arrivals;
  }
}
