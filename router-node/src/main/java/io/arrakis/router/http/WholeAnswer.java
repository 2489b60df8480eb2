package io.arrakis.router.http;

import io.arrakis.router.serve.GenerationListener;
import io.grpc.Status;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.http.javadsl.model.HttpResponse;

/**
 * The answer of a request that is not streamed: tokens and text gathered, one response at the end.
 */
final class WholeAnswer implements GenerationListener {
  private final ResponseShapes shapes;
  private final String promptField;
  private final CompletableFuture<HttpResponse> response = new CompletableFuture<>();
  private final StringBuilder text = new StringBuilder();
  private int[] tokens = new int[16];
  private int count;

  WholeAnswer(ResponseShapes shapes, String promptField) {
    this.shapes = shapes;
    this.promptField = promptField;
  }

  CompletableFuture<HttpResponse> response() {
    return response;
  }

  @Override
  public void onTokens(int[] tokenIds, String delta) {
    take(tokenIds, delta);
  }

  @Override
  public void onFinished(int[] tokenIds, String delta, Finish finish) {
    take(tokenIds, delta);
    response.complete(
        Replies.json(200, shapes.whole(Arrays.copyOf(tokens, count), text.toString(), finish)));
  }

  @Override
  public void onFailed(Status status) {
    response.complete(Replies.error(ApiError.of(status, promptField)));
  }

  private void take(int[] ids, String delta) {
    if (count + ids.length > tokens.length) {
      tokens = Arrays.copyOf(tokens, Math.max(tokens.length * 2, count + ids.length));
    }
    System.arraycopy(ids, 0, tokens, count, ids.length);
    count += ids.length;
    text.append(delta);
  }
}
