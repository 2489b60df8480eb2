package io.arrakis.engine;

import io.arrakis.engine.experts.RoutedExperts;
import io.arrakis.engine.layers.DecoderLayer;
import io.arrakis.engine.layers.RmsNorm;
import io.arrakis.engine.layers.StepContext;
import io.arrakis.engine.tensor.Matrix;
import io.arrakis.model.gating.Routing;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * One batch step in progress, advanced layer by layer so that a driver can keep several in flight:
 * {@link #advance} runs on the caller's thread up to the next MoE layer's routed experts, hands
 * them to {@link RoutedExperts}, computes the shared expert meanwhile, and returns the stage to
 * wait for; the next {@code advance} (once that stage is complete) adds routed + shared + residual
 * and goes on. When the routed experts answer at once (in process) it just continues. After the
 * last layer it computes the logits and returns empty. Not thread-safe: one driver advances it.
 */
public final class ForwardPass {
  private final Engine engine;
  private final DecoderModelView model;
  private final RoutedExperts experts;
  private final List<SequenceChunk> chunks;
  private final StepContext ctx;
  private final int n;
  private final int d;
  private final float[] x;
  private final float[] h;
  private final float[] tmp;
  private final MoeTap tap;
  private int layer;
  private CompletableFuture<Void> pending;
  private float[] routed;
  private float[] shared;
  private StepResult result;
  private boolean failed;

  /** The model parts a pass reads. */
  record DecoderModelView(List<DecoderLayer> layers, RmsNorm finalNorm, Matrix lmHead, int vocab) {}

  ForwardPass(
      Engine engine,
      DecoderModelView model,
      RoutedExperts experts,
      List<SequenceChunk> chunks,
      StepContext ctx,
      float[] x,
      int d,
      MoeTap tap) {
    this.engine = engine;
    this.model = model;
    this.experts = experts;
    this.chunks = chunks;
    this.ctx = ctx;
    this.n = ctx.rows();
    this.d = d;
    this.x = x;
    this.h = new float[n * d];
    this.tmp = new float[n * d];
    this.tap = tap;
  }

  /** Rows (tokens) in this step. */
  public int tokens() {
    return n;
  }

  /** The layer the pass is at (the number of layers once the logits are computed). */
  public int layer() {
    return layer;
  }

  public boolean done() {
    return result != null;
  }

  /**
   * Runs until the next routed-experts hand-off, returning the stage to wait for before calling
   * again, or empty once the logits are ready ({@link #result}). A failed hand-off fails this call.
   */
  public Optional<CompletionStage<Void>> advance() {
    if (result != null) {
      return Optional.empty();
    }
    if (failed) {
      throw new IllegalStateException("this step failed; release its sequences");
    }
    try {
      if (pending != null) {
        if (!pending.isDone()) {
          throw new IllegalStateException(
              "layer " + layer + "'s routed experts have not answered yet");
        }
        pending.join();
        pending = null;
        finishMoe();
      }
      List<DecoderLayer> layers = model.layers();
      while (layer < layers.size()) {
        DecoderLayer l = layers.get(layer);
        l.inputNorm().apply(x, h, n);
        l.attention().forward(h, tmp, ctx.cache().layer(layer), ctx);
        for (int i = 0; i < n * d; i++) {
          x[i] += tmp[i];
        }
        l.postNorm().apply(x, h, n);
        if (!l.isMoe()) {
          l.dense().apply(h, n, tmp);
          for (int i = 0; i < n * d; i++) {
            x[i] += tmp[i];
          }
          layer++;
          continue;
        }
        Routing routing = l.moe().route(h, n);
        routed = new float[n * d];
        shared = l.moe().hasShared() ? new float[n * d] : null;
        pending = experts.compute(layer, h, routing, routed).toCompletableFuture();
        if (shared != null) {
          l.moe().shared(h, n, shared);
        }
        if (!pending.isDone()) {
          return Optional.of(pending);
        }
        pending.join();
        pending = null;
        finishMoe();
      }
      result = logits();
      engine.finished(this, true);
      return Optional.empty();
    } catch (RuntimeException | Error e) {
      // an Error too (a missing native, an out-of-memory): the sequences must leave the step, or
      // releasing them fails and hides what went wrong
      failed = true;
      engine.finished(this, false);
      throw e;
    }
  }

  private void finishMoe() {
    if (shared != null) {
      for (int i = 0; i < n * d; i++) {
        routed[i] += shared[i];
      }
    }
    if (tap != null) {
      tap.onMoe(layer, n, h, routed);
    }
    for (int i = 0; i < n * d; i++) {
      x[i] += routed[i];
    }
    routed = null;
    shared = null;
    layer++;
  }

  // the rows whose logits were asked for go through the final norm and the LM head together
  private StepResult logits() {
    int vocab = model.vocab();
    int[] first = new int[chunks.size()];
    int[] count = new int[chunks.size()];
    int total = 0;
    for (int c = 0; c < chunks.size(); c++) {
      int end = ctx.chunkStart(c) + ctx.chunkRows(c);
      first[c] = chunks.get(c).allLogits() ? ctx.chunkStart(c) : end - 1;
      count[c] = end - first[c];
      total += count[c];
    }
    float[] normed = new float[total * d];
    int at = 0;
    for (int c = 0; c < chunks.size(); c++) {
      model.finalNorm().apply(x, first[c] * d, normed, at * d, count[c], d);
      at += count[c];
    }
    float[] all = new float[total * vocab];
    model.lmHead().apply(normed, total, all);
    List<float[]> out = new ArrayList<>();
    at = 0;
    for (int c = 0; c < chunks.size(); c++) {
      float[] logits = new float[count[c] * vocab];
      System.arraycopy(all, at * vocab, logits, 0, logits.length);
      at += count[c];
      out.add(logits);
    }
    return new StepResult(List.copyOf(out), vocab);
  }

  /**
   * Abandons the step (its driver gave up, e.g. a routed-experts call failed or every request in it
   * was cancelled): its sequences leave the pass at once; their caches hold this step's positions
   * partly written, so the driver releases them (or recomputes them) before using them again.
   */
  public void cancel() {
    if (result == null && !failed) {
      failed = true;
      engine.finished(this, false);
    }
  }

  /** The logits, once {@link #done}. */
  public StepResult result() {
    if (result == null) {
      throw new IllegalStateException("the step has not finished");
    }
    return result;
  }

  List<SequenceChunk> chunks() {
    return chunks;
  }

  StepContext context() {
    return ctx;
  }
}
