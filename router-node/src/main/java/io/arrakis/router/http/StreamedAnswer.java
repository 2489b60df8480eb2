package io.arrakis.router.http;

import io.arrakis.router.pekko.PekkoFutures;
import io.arrakis.router.serve.GenerationHandle;
import io.arrakis.router.serve.GenerationListener;
import io.grpc.Status;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.NotUsed;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.MediaTypes;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.BoundedSourceQueue;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.QueueOfferResult;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;

/**
 * The answer of a streamed request: server-sent events, one per chunk of tokens, then {@code data:
 * [DONE]}. The response starts with the first tokens, so that a request refused before it ran (a
 * bad prompt, admission, no expert node) still gets its own status and a JSON error; a failure
 * after that is an error event before {@code [DONE]}. Chunks wait for the client in a bounded
 * buffer (the listener never blocks the scheduler); a client that lets it fill up, or that goes
 * away, cancels the request.
 */
final class StreamedAnswer implements GenerationListener {
  private final ResponseShapes shapes;
  private final String promptField;
  private final boolean chat;
  private final boolean includeUsage;
  private final GenerationHandle handle;
  private final BoundedSourceQueue<ByteString> queue;
  private final Source<ByteString, NotUsed> events;
  private final CompletableFuture<HttpResponse> response = new CompletableFuture<>();
  private boolean started;

  /**
   * @param handle cancels the request
   * @param buffer chunks that may wait for the client
   */
  StreamedAnswer(
      ResponseShapes shapes,
      OpenAiRequest request,
      GenerationHandle handle,
      int buffer,
      Materializer mat) {
    this.shapes = shapes;
    this.promptField = request.promptField();
    this.chat = request.chat();
    this.includeUsage = request.includeUsage();
    this.handle = handle;
    Pair<BoundedSourceQueue<ByteString>, Source<ByteString, NotUsed>> q =
        Source.<ByteString>queue(buffer).preMaterialize(mat);
    this.queue = q.first();
    // the client went away (or the stream ended): a no-op for a request that has finished
    this.events =
        q.second()
            .watchTermination(
                (notUsed, done) -> {
                  PekkoFutures.plain(done).whenComplete((ok, failure) -> handle.cancel());
                  return NotUsed.getInstance();
                });
  }

  CompletableFuture<HttpResponse> response() {
    return response;
  }

  @Override
  public void onTokens(int[] tokenIds, String text) {
    start();
    offer(Sse.event(shapes.chunk(tokenIds, text, null)));
  }

  @Override
  public void onFinished(int[] tokenIds, String text, Finish finish) {
    start();
    offer(Sse.event(shapes.chunk(tokenIds, text, finish)));
    if (includeUsage) {
      offer(Sse.event(shapes.usageChunk(finish)));
    }
    offer(Sse.DONE);
    complete();
  }

  @Override
  public void onFailed(Status status) {
    ApiError error = ApiError.of(status, promptField);
    if (!started) {
      complete();
      response.complete(Replies.error(error));
      return;
    }
    offer(Sse.event(error.toJson()));
    offer(Sse.DONE);
    complete();
  }

  private void start() {
    if (started) {
      return;
    }
    started = true;
    if (chat) {
      offer(Sse.event(shapes.roleChunk()));
    }
    response.complete(
        HttpResponse.create()
            .withStatus(200)
            .withEntity(
                HttpEntities.createChunked(
                    ContentTypes.create(MediaTypes.TEXT_EVENT_STREAM), events))
            .addHeader(RawHeader.create("Cache-Control", "no-cache")));
  }

  /**
   * Queues an event for the client. The queue is closed once the client has gone (the request is
   * being cancelled then); a full one means a reader too slow to keep: its request goes and its
   * stream breaks off. Never throws (this runs on the scheduler's thread).
   */
  private void offer(ByteString event) {
    if (queue.isCompleted()) {
      return;
    }
    QueueOfferResult r = queue.offer(event);
    if (r.isEnqueued()) {
      return;
    }
    handle.cancel();
    if (r == QueueOfferResult.dropped()) {
      try {
        queue.fail(
            new IllegalStateException(
                "the client did not read its stream; its request was cancelled"));
      } catch (IllegalStateException alreadyClosed) {
        // the client went away meanwhile
      }
    }
  }

  private void complete() {
    try {
      queue.complete();
    } catch (IllegalStateException alreadyClosed) {
      // the client went away, or its stream was broken off: nothing left to end
    }
  }
}
