package io.arrakis.router.http;

import io.arrakis.engine.sampling.TokenLogprobs;
import io.arrakis.router.pekko.PekkoFutures;
import io.arrakis.router.serve.GenerationHandle;
import io.arrakis.router.serve.GenerationListener;
import io.grpc.Status;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.NotUsed;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.MediaTypes;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.stream.BoundedSourceQueue;
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
 *
 * <p>The buffer is a queue that runs inside the connection's own stream (materialized with the
 * response's entity), so that a chunk offered by the scheduler reaches the connection's renderer in
 * one hand-off; chunks offered before the connection has started the entity wait here until it
 * does, counted against the same bound.
 */
final class StreamedAnswer implements GenerationListener {
  private final ResponseShapes shapes;
  private final String promptField;
  private final boolean chat;
  private final boolean includeUsage;
  private final GenerationHandle handle;
  private final int buffer;
  private final Source<ByteString, NotUsed> events;
  private final CompletableFuture<HttpResponse> response = new CompletableFuture<>();
  private boolean started;
  // guarded by this: the listener's thread offers, the connection's stream attaches its queue
  private BoundedSourceQueue<ByteString> queue;
  private final ArrayDeque<ByteString> early = new ArrayDeque<>();
  private boolean ended;
  private boolean broken;

  /**
   * @param handle cancels the request
   * @param buffer chunks that may wait for the client
   */
  StreamedAnswer(
      ResponseShapes shapes, OpenAiRequest request, GenerationHandle handle, int buffer) {
    this.shapes = shapes;
    this.promptField = request.promptField();
    this.chat = request.chat();
    this.includeUsage = request.includeUsage();
    this.handle = handle;
    this.buffer = buffer;
    // the client went away (or the stream ended): a no-op for a request that has finished
    this.events =
        Source.<ByteString>queue(buffer)
            .mapMaterializedValue(
                q -> {
                  attach(q);
                  return NotUsed.getInstance();
                })
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
  public void onTokens(int[] tokenIds, String text, List<TokenLogprobs> logprobs) {
    start();
    offer(Sse.event(shapes.chunk(tokenIds, text, logprobs, null)));
  }

  @Override
  public void onFinished(int[] tokenIds, String text, List<TokenLogprobs> logprobs, Finish finish) {
    start();
    offer(Sse.event(shapes.chunk(tokenIds, text, logprobs, finish)));
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
   * The connection's stream has started the entity: what waited goes into its queue. A buffer that
   * filled up before (its request is cancelled) breaks the stream off at once.
   */
  private synchronized void attach(BoundedSourceQueue<ByteString> q) {
    queue = q;
    if (broken) {
      q.fail(unread());
      return;
    }
    while (!early.isEmpty() && !broken) {
      offerToQueue(early.poll());
    }
    if (ended && !broken) {
      completeQueue();
    }
  }

  /**
   * Queues an event for the client. The queue is closed once the client has gone (the request is
   * being cancelled then); a full one means a reader too slow to keep: its request goes and its
   * stream breaks off. Never throws (this runs on the scheduler's thread).
   */
  private synchronized void offer(ByteString event) {
    if (broken) {
      return;
    }
    if (queue != null) {
      offerToQueue(event);
    } else if (early.size() < buffer) {
      early.add(event);
    } else {
      broken = true; // the entity has not started: it breaks off as soon as it does
      early.clear();
      handle.cancel();
    }
  }

  private void offerToQueue(ByteString event) {
    if (queue.isCompleted()) {
      return;
    }
    QueueOfferResult r = queue.offer(event);
    if (r.isEnqueued()) {
      return;
    }
    broken = true;
    handle.cancel();
    if (r == QueueOfferResult.dropped()) {
      try {
        queue.fail(unread());
      } catch (IllegalStateException alreadyClosed) {
        // the client went away meanwhile
      }
    }
  }

  private static IllegalStateException unread() {
    return new IllegalStateException(
        "the client did not read its stream; its request was cancelled");
  }

  private synchronized void complete() {
    ended = true;
    if (queue != null && !broken) {
      completeQueue();
    }
  }

  private void completeQueue() {
    try {
      queue.complete();
    } catch (IllegalStateException alreadyClosed) {
      // the client went away, or its stream was broken off: nothing left to end
    }
  }
}
