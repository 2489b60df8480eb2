package io.arrakis.loadtest.load;

import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.proto.v1.ForwardRequest;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Requests made before the run and handed out in turn: drawing fresh Gaussian inputs per call would
 * take CPU from the cluster under test (on a laptop, the same cores). Enough distinct inputs keep
 * routing spread as the model's skew says.
 */
public final class RequestPool {
  /** A ready request and its token count. */
  public record Entry(ForwardRequest request, int tokens) {}

  private final List<Entry> entries;
  private final AtomicLong next = new AtomicLong();

  private RequestPool(List<Entry> entries) {
    this.entries = List.copyOf(entries);
  }

  /**
   * {@code size} requests spread over {@code layers} in turn, tokens drawn from {@code tokens}.
   * Request ids are set per call ({@link #next}).
   */
  public static RequestPool build(
      TargetModel model, List<Integer> layers, TokenCounts tokens, int size, long seed) {
    if (layers.isEmpty()) {
      throw new IllegalArgumentException("no layer to send requests to");
    }
    InputSampler sampler = new InputSampler(model.hidden(), model.bias(), seed);
    List<Entry> out = new ArrayList<>();
    for (int i = 0; i < size; i++) {
      int t = tokens.next(sampler.random());
      ForwardRequest r =
          ForwardRequest.newBuilder()
              .setLayer(layers.get(i % layers.size()))
              .setHiddenStates(TensorCodec.encodeFloat(sampler.sample(t), t, model.hidden()))
              .build();
      out.add(new Entry(r, t));
    }
    return new RequestPool(out);
  }

  /** The next request, with a fresh id; thread-safe. */
  public Entry next() {
    long n = next.getAndIncrement();
    Entry e = entries.get((int) (n % entries.size()));
    return new Entry(e.request().toBuilder().setRequestId("load-" + n).build(), e.tokens());
  }

  public int size() {
    return entries.size();
  }
}
