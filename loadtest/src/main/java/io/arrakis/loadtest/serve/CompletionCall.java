package io.arrakis.loadtest.serve;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import java.util.function.IntConsumer;

/**
 * One streamed OpenAI-compatible completion ({@code stream: true}, {@code return_token_ids}) as its
 * client sees it: each SSE chunk's arrival and token ids (counted, as vLLM's benchmark counts
 * chunks), its text, how it ended. A non-200 answer fails the call as "HTTP status"; a stream that
 * ends without {@code data: [DONE]} or with an error chunk fails too.
 *
 * <p>The exchange runs on one thread from the request's write to the stream's end, reading with
 * blocking I/O: a token's chunk is timed by the thread that reads it off the socket, with no
 * hand-off to another thread before (on a loaded machine each hand-off waits for a core, and would
 * be counted in the client's latencies and not in the server's).
 */
public final class CompletionCall implements StreamedCall {
  private static final ObjectMapper JSON = new ObjectMapper();

  private volatile TokenArrivals arrivals = new TokenArrivals(System.nanoTime());
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

  /**
   * @param chat a chat completion (deltas in {@code delta.content}) rather than a completion
   * @param onTokens hears each chunk's token count as it arrives
   * @param onText hears each chunk's text as it arrives
   */
  CompletionCall(boolean chat, IntConsumer onTokens, Consumer<String> onText) {
    this.chat = chat;
    this.onTokens = onTokens;
    this.onText = onText;
  }

  /**
   * The request is about to be sent, from the thread that will read its answer: the clock starts.
   */
  void sending() {
    arrivals = new TokenArrivals(System.nanoTime());
  }

  /**
   * Reads the answer ({@code status}, {@code body}) to its end on this thread and ends the call; a
   * failure to read is thrown for {@link #failed}.
   */
  void read(int status, InputStream body) throws IOException {
    if (status != 200) {
      body.readAllBytes(); // to its end, so that the connection serves the next request
      end("HTTP " + status);
      return;
    }
    try (BufferedReader in =
        new BufferedReader(new InputStreamReader(body, StandardCharsets.UTF_8))) {
      for (String line = in.readLine(); line != null; line = in.readLine()) {
        line(line);
      }
    }
    String f;
    synchronized (this) {
      f = failure != null ? failure : sawDone ? null : "NO [DONE]";
    }
    end(f);
  }

  /** Ends the call as failed: it could not be sent, or its answer could not be read. */
  void failed(Throwable t) {
    end("CONNECTION: " + t.getClass().getSimpleName());
  }

  private synchronized void line(String line) {
    long at = System.nanoTime(); // as read, before it is parsed (as vLLM's benchmark times it)
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
        arrivals.add(at, n);
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
