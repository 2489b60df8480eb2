package io.arrakis.router.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.arrakis.engine.generate.FinishReason;
import io.arrakis.router.serve.GenerationListener;
import io.arrakis.router.serve.GenerationRequest;
import io.grpc.Status;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.util.ByteString;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * A streamed answer as the connection's stream reads it: every event in order, then the end; a
 * request refused before its first token gets its own status; chunks that pile up past the buffer
 * before the stream starts cancel the request and break the stream off.
 */
class StreamedAnswerTest {
  private static final ActorTestKit testKit = ActorTestKit.create();
  private static final GenerationListener.Finish LENGTH =
      new GenerationListener.Finish(FinishReason.LENGTH, 3, 2, 0);

  private final AtomicInteger cancels = new AtomicInteger();

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  private StreamedAnswer answer(int buffer) {
    OpenAiRequest request =
        new OpenAiRequest(
            false,
            new GenerationRequest.Prompt.TokenIds(new int[] {1, 2, 3}),
            GenerationRequest.Sampling.greedy(2),
            true,
            false,
            true,
            false,
            null);
    return new StreamedAnswer(
        new ResponseShapes(request, "cmpl-1", "m", 0, id -> "t" + id, ids -> ""),
        request,
        cancels::incrementAndGet,
        buffer);
  }

  /** The response's body as the connection would send it. */
  private static CompletableFuture<String> body(HttpResponse response) {
    return response
        .entity()
        .getDataBytes()
        .runWith(
            Sink.fold(ByteString.emptyByteString(), ByteString::concat),
            Materializer.matFromSystem(testKit.system()))
        .toCompletableFuture()
        .thenApply(b -> b.decodeString(StandardCharsets.UTF_8));
  }

  @Test
  void theStreamHasEveryEventInOrderThenDone() throws Exception {
    StreamedAnswer a = answer(16);
    a.onTokens(new int[] {7}, "a", List.of());
    HttpResponse response = a.response().get(5, TimeUnit.SECONDS);
    CompletableFuture<String> body = body(response);
    a.onFinished(new int[] {8}, "b", List.of(), LENGTH);

    assertThat(response.status().intValue()).isEqualTo(200);
    assertThat(body.get(5, TimeUnit.SECONDS))
        .containsSubsequence(
            "\"text\":\"a\"",
            "\"token_ids\":[7]",
            "\"text\":\"b\"",
            "\"finish_reason\":\"length\"",
            "\"token_ids\":[8]")
        .endsWith("data: [DONE]\n\n");
  }

  @Test
  void aRequestRefusedBeforeItsFirstTokenGetsItsOwnStatus() throws Exception {
    StreamedAnswer a = answer(16);

    a.onFailed(Status.RESOURCE_EXHAUSTED.withDescription("the router is at capacity"));

    assertThat(a.response().get(5, TimeUnit.SECONDS).status().intValue()).isEqualTo(429);
  }

  @Test
  void chunksPilingUpPastTheBufferBeforeTheStreamStartsCancelTheRequestAndBreakItOff()
      throws Exception {
    StreamedAnswer a = answer(2);
    a.onTokens(new int[] {7}, "a", List.of());
    a.onTokens(new int[] {8}, "b", List.of());
    assertThat(cancels).hasValue(0);

    a.onTokens(new int[] {9}, "c", List.of());

    assertThat(cancels).hasValue(1);
    CompletableFuture<String> body = body(a.response().get(5, TimeUnit.SECONDS));
    assertThatThrownBy(() -> body.get(5, TimeUnit.SECONDS))
        .isInstanceOf(ExecutionException.class)
        .hasRootCauseMessage("the client did not read its stream; its request was cancelled");
  }
}
