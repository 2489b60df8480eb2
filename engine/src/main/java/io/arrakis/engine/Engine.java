package io.arrakis.engine;

import io.arrakis.engine.experts.LocalExperts;
import io.arrakis.engine.experts.RoutedExperts;
import io.arrakis.engine.kv.BlockManager;
import io.arrakis.engine.kv.KvCache;
import io.arrakis.engine.layers.DecoderLayer;
import io.arrakis.engine.layers.StepContext;
import io.arrakis.model.checkpoint.Checkpoint;
import io.arrakis.model.config.ArchConfig;
import io.arrakis.model.moe.MoeModel;
import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletionStage;

/**
 * A whole MoE language model in process: the decoder ({@link DecoderModel}), its routed experts
 * behind {@link RoutedExperts}, and a paged KV cache. A batch step takes several sequences, each
 * with any number of new tokens, and gives their logits: {@link #step} runs one to the end, {@link
 * #begin} returns it as a {@link ForwardPass} to advance layer by layer (several may be in flight,
 * over disjoint sequences). Not thread-safe: one driver (a scheduler) calls it.
 */
public final class Engine implements AutoCloseable {
  private final DecoderModel model;
  private final RoutedExperts experts;
  private final KvCache cache;
  private final ForwardPass.DecoderModelView view;
  private final Set<Long> inFlight = new HashSet<>();
  private final Closeable resources;
  private MoeTap tap;

  private Engine(
      DecoderModel model, RoutedExperts experts, EngineOptions options, Closeable resources) {
    this.model = model;
    this.experts = experts;
    int width = model.cacheRowWidth();
    int layers = model.config().numLayers();
    this.cache =
        new KvCache(
            layers,
            width,
            KvCache.blocksFor(options.kvCacheBytes(), layers, width, options.blockSize()),
            options.blockSize());
    this.view =
        new ForwardPass.DecoderModelView(
            model.layers(), model.finalNorm(), model.lmHead(), model.config().vocabSize());
    this.resources = resources;
  }

  /** Loads a Hub-layout model directory with every routed expert in process. */
  public static Engine load(Path dir, EngineOptions options) throws IOException {
    ArchConfig config = ArchConfig.load(dir);
    MoeModel moe = MoeModel.open(dir);
    try {
      DecoderModel model = DecoderModel.load(config, moe.checkpoint());
      return new Engine(model, LocalExperts.load(moe), options, moe::close);
    } catch (IOException | RuntimeException e) {
      moe.close();
      throw e;
    }
  }

  /** An engine over a loaded decoder and routed experts computed elsewhere (e.g. expert nodes). */
  public static Engine create(DecoderModel model, RoutedExperts experts, EngineOptions options) {
    return new Engine(model, experts, options, () -> {});
  }

  /**
   * Loads only the decoder (no routed expert) of {@code dir}, for a router whose experts are
   * remote.
   */
  public static DecoderModel loadDecoder(Path dir, Checkpoint checkpoint) throws IOException {
    return DecoderModel.load(ArchConfig.load(dir), checkpoint);
  }

  public ArchConfig config() {
    return model.config();
  }

  public DecoderModel model() {
    return model;
  }

  public RoutedExperts experts() {
    return experts;
  }

  public BlockManager blocks() {
    return cache.blocks();
  }

  public KvCache cache() {
    return cache;
  }

  /** Observes every MoE block of later steps (null to stop). */
  public void tap(MoeTap tap) {
    this.tap = tap;
  }

  /**
   * Starts a step: reserves the chunks' cache blocks (all or none: {@link
   * io.arrakis.engine.kv.CacheExhaustedException} leaves every sequence as it was) and embeds their
   * tokens. A sequence may be in at most one pass in flight.
   */
  public ForwardPass begin(List<SequenceChunk> chunks) {
    if (chunks.isEmpty()) {
      throw new IllegalArgumentException("a step needs at least one sequence");
    }
    int vocab = model.config().vocabSize();
    long[] seqs = new long[chunks.size()];
    int[][] tokens = new int[chunks.size()][];
    int[] counts = new int[chunks.size()];
    int rows = 0;
    for (int c = 0; c < chunks.size(); c++) {
      SequenceChunk chunk = chunks.get(c);
      if (inFlight.contains(chunk.seq())) {
        throw new IllegalStateException(
            "sequence " + chunk.seq() + " is already in a step in flight");
      }
      for (int t : chunk.tokens()) {
        if (t < 0 || t >= vocab) {
          throw new IllegalArgumentException(
              "sequence "
                  + chunk.seq()
                  + ": token id "
                  + t
                  + " is outside the vocabulary (0.."
                  + (vocab - 1)
                  + ")");
        }
      }
      seqs[c] = chunk.seq();
      tokens[c] = chunk.tokens();
      counts[c] = chunk.tokens().length;
      rows += counts[c];
    }
    BlockManager blocks = cache.blocks();
    int[] starts = blocks.append(seqs, tokens);
    int d = model.config().hiddenSize();
    int[] positions = new int[rows];
    int[] cacheRows = new int[rows];
    int[] chunkStart = new int[chunks.size()];
    int[][] context = new int[chunks.size()][];
    float[] x = new float[rows * d];
    int r = 0;
    for (int c = 0; c < chunks.size(); c++) {
      chunkStart[c] = r;
      int end = starts[c] + counts[c];
      context[c] = new int[end];
      for (int p = 0; p < end; p++) {
        context[c][p] = blocks.row(seqs[c], p);
      }
      for (int i = 0; i < counts[c]; i++, r++) {
        positions[r] = starts[c] + i;
        cacheRows[r] = context[c][positions[r]];
        model.embed().row(chunks.get(c).tokens()[i], x, r * d);
      }
      inFlight.add(seqs[c]);
    }
    StepContext ctx =
        new StepContext(
            positions,
            cacheRows,
            chunkStart,
            counts,
            context,
            cache,
            model.rope().table(positions));
    return new ForwardPass(this, view, experts, List.copyOf(chunks), ctx, x, d, tap);
  }

  /**
   * The pass left its sequences: if it ran to its end, the blocks it filled are written and may be
   * reused by content (prefix caching).
   */
  void finished(ForwardPass pass, boolean ran) {
    for (SequenceChunk c : pass.chunks()) {
      inFlight.remove(c.seq());
      if (ran) {
        cache.blocks().commit(c.seq());
      }
    }
  }

  /** Runs a step to the end on this thread, waiting for remote experts where needed. */
  public StepResult step(List<SequenceChunk> chunks) {
    ForwardPass pass = begin(chunks);
    Optional<CompletionStage<Void>> wait;
    while ((wait = pass.advance()).isPresent()) {
      wait.get().toCompletableFuture().join();
    }
    return pass.result();
  }

  /**
   * One MoE block on its own (the layer API): routed experts plus any shared expert for hidden
   * states {@code x} [rows, hidden] already normed, as transformers' {@code mlp} module computes.
   */
  public float[] moeBlock(int layer, float[] x, int rows) {
    DecoderLayer l = model.layers().get(layer);
    if (!l.isMoe()) {
      throw new IllegalArgumentException("layer " + layer + " is not an MoE layer");
    }
    int d = model.config().hiddenSize();
    float[] out = new float[rows * d];
    experts.compute(layer, x, l.moe().route(x, rows), out).toCompletableFuture().join();
    if (l.moe().hasShared()) {
      float[] shared = new float[rows * d];
      l.moe().shared(x, rows, shared);
      for (int i = 0; i < out.length; i++) {
        out[i] += shared[i];
      }
    }
    return out;
  }

  /** Frees a sequence's cache blocks. */
  public void release(long seq) {
    if (inFlight.contains(seq)) {
      throw new IllegalStateException("sequence " + seq + " is in a step in flight");
    }
    cache.blocks().free(seq);
  }

  @Override
  public void close() throws IOException {
    resources.close();
  }
}
