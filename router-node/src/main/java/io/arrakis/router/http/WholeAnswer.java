package io.arrakis.router.http;

import io.arrakis.engine.sampling.TokenLogprobs;
import io.arrakis.router.serve.GenerationListener;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
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
  private final List<TokenLogprobs> gathered = new ArrayList<>();
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
  public void onTokens(int[] tokenIds, String delta, List<TokenLogprobs> logprobs) {
    take(tokenIds, delta, logprobs);
  }

  @Override
  public void onFinished(
      int[] tokenIds, String delta, List<TokenLogprobs> logprobs, Finish finish) {
    take(tokenIds, delta, logprobs);
    response.complete(
        Replies.json(
            200, shapes.whole(Arrays.copyOf(tokens, count), text.toString(), gathered, finish)));
  }

  @Override
  public void onPromptLogprobs(int[] promptIds, List<TokenLogprobs> logprobs) {
    shapes.promptLogprobs(promptIds, logprobs);
  }

  @Override
  public void onFailed(Status status) {
    response.complete(Replies.error(ApiError.of(status, promptField)));
  }

  private void take(int[] ids, String delta, List<TokenLogprobs> more) {
    gathered.addAll(more);
    if (count + ids.length > tokens.length) {
      tokens = Arrays.copyOf(tokens, Math.max(tokens.length * 2, count + ids.length));
    }
    System.arraycopy(ids, 0, tokens, count, ids.length);
    count += ids.length;
    text.append(delta);
  }
}
