package io.arrakis.engine.experts;

import io.arrakis.model.gating.Routing;
import io.arrakis.model.kernel.ExpertKernel;
import io.arrakis.model.kernel.MoeCombiner;
import io.arrakis.model.moe.MoeModel;
import io.arrakis.model.moe.ReferenceMoe;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;

/**
 * Every routed expert of a model in this process, computed with the expert node's kernel ({@link
 * MoeCombiner}: per expert one fused gate/up product and one down product over all its rows, each
 * reading the expert's weights once, weighted sums per token in ascending expert order). On the
 * caller's thread (the stage is complete on return), or on an executor to overlap with the caller's
 * other work.
 */
public final class LocalExperts implements RoutedExperts {
  private final Map<Integer, List<ExpertKernel>> layers;
  private final int hidden;
  private final Executor executor;
  private final ThreadLocal<MoeCombiner> combiners = ThreadLocal.withInitial(MoeCombiner::new);

  private LocalExperts(Map<Integer, List<ExpertKernel>> layers, int hidden, Executor executor) {
    this.layers = layers;
    this.hidden = hidden;
    this.executor = executor;
  }

  /** Loads every expert of every MoE layer of {@code model}. */
  public static LocalExperts load(MoeModel model) throws IOException {
    Map<Integer, List<ExpertKernel>> layers = new HashMap<>();
    for (int l : model.moeLayers()) {
      List<ExpertKernel> kernels = new ArrayList<>();
      for (int e = 0; e < model.config().numExperts(); e++) {
        kernels.add(model.expert(l, e));
      }
      layers.put(l, List.copyOf(kernels));
    }
    return new LocalExperts(Map.copyOf(layers), model.config().hiddenSize(), null);
  }

  /** The same experts computed on {@code executor}. */
  public LocalExperts on(Executor executor) {
    return new LocalExperts(layers, hidden, executor);
  }

  /** Bytes of expert weights held. */
  public long weightBytes() {
    long b = 0;
    for (List<ExpertKernel> ks : layers.values()) {
      for (ExpertKernel k : ks) {
        b += k.weightBytes();
      }
    }
    return b;
  }

  /** Bytes of one expert. */
  public long expertBytes() {
    return layers.values().iterator().next().get(0).weightBytes();
  }

  @Override
  public CompletionStage<Void> compute(int layer, float[] x, Routing routing, float[] out) {
    if (executor == null) {
      try {
        run(layer, x, routing, out);
        return CompletableFuture.completedFuture(null);
      } catch (RuntimeException e) {
        return CompletableFuture.failedFuture(e);
      }
    }
    return CompletableFuture.runAsync(() -> run(layer, x, routing, out), executor);
  }

  private void run(int layer, float[] x, Routing routing, float[] out) {
    List<ExpertKernel> experts = layers.get(layer);
    if (experts == null) {
      throw new IllegalArgumentException("layer " + layer + " has no routed experts here");
    }
    combiners.get().combine(x, routing.tokens(), hidden, ReferenceMoe.plan(routing, experts), out);
  }
}
