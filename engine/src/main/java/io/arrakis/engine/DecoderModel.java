package io.arrakis.engine;

import io.arrakis.engine.layers.Attention;
import io.arrakis.engine.layers.DecoderLayer;
import io.arrakis.engine.layers.FeedForward;
import io.arrakis.engine.layers.GqaAttention;
import io.arrakis.engine.layers.MlaAttention;
import io.arrakis.engine.layers.MoeBlock;
import io.arrakis.engine.layers.RmsNorm;
import io.arrakis.engine.layers.Rope;
import io.arrakis.engine.tensor.Matrix;
import io.arrakis.model.checkpoint.Checkpoint;
import io.arrakis.model.checkpoint.WeightNames;
import io.arrakis.model.checkpoint.WeightNames.Proj;
import io.arrakis.model.config.ArchConfig;
import io.arrakis.model.config.ModelConfigException;
import io.arrakis.model.gating.GateRule;
import io.arrakis.model.kernel.ExpertKernel;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Everything of a model but its routed experts — embeddings, attention, norms, gates, shared
 * experts, dense layers, LM head — loaded from a checkpoint (what a router holds). Every tensor's
 * shape is checked against config.json as it loads; a missing or misshapen one is refused naming
 * it.
 */
public final class DecoderModel {
  private final ArchConfig config;
  private final Matrix embed;
  private final List<DecoderLayer> layers;
  private final RmsNorm finalNorm;
  private final Matrix lmHead;
  private final Rope rope;

  private DecoderModel(
      ArchConfig config,
      Matrix embed,
      List<DecoderLayer> layers,
      RmsNorm finalNorm,
      Matrix lmHead,
      Rope rope) {
    this.config = config;
    this.embed = embed;
    this.layers = layers;
    this.finalNorm = finalNorm;
    this.lmHead = lmHead;
    this.rope = rope;
  }

  /** Loads the non-routed weights of {@code ck} for {@code config}. */
  public static DecoderModel load(ArchConfig config, Checkpoint ck) throws IOException {
    WeightNames names = WeightNames.of(config.family());
    int d = config.hiddenSize();
    int vocab = config.vocabSize();
    Matrix embed = Matrix.load(ck, WeightNames.EMBED, vocab, d, null);
    Matrix head;
    if (ck.has(WeightNames.LM_HEAD)) {
      head = Matrix.load(ck, WeightNames.LM_HEAD, vocab, d, null);
    } else if (config.tieWordEmbeddings()) {
      head = embed;
    } else {
      throw new ModelConfigException(
          ck.dir()
              + ": missing tensor '"
              + WeightNames.LM_HEAD
              + "' (config.json has tie_word_embeddings false)");
    }
    Rope rope = new Rope(config.rope());
    List<DecoderLayer> layers = new ArrayList<>();
    for (int l = 0; l < config.numLayers(); l++) {
      layers.add(layer(config, ck, names, l, rope));
    }
    RmsNorm norm = norm(ck, WeightNames.FINAL_NORM, d, config.rmsNormEps());
    return new DecoderModel(config, embed, List.copyOf(layers), norm, head, rope);
  }

  private static DecoderLayer layer(
      ArchConfig c, Checkpoint ck, WeightNames names, int l, Rope rope) throws IOException {
    int d = c.hiddenSize();
    double eps = c.rmsNormEps();
    Attention attention =
        c.attention().mla() == null ? gqa(c, ck, names, l, rope) : mla(c, ck, names, l, rope);
    RmsNorm in = norm(ck, names.inputNorm(l), d, eps);
    RmsNorm post = norm(ck, names.postAttentionNorm(l), d, eps);
    if (!c.isMoeLayer(l)) {
      int ff = c.denseIntermediateSize();
      ExpertKernel k =
          ExpertKernel.fromHf(
              ck.floats(names.denseMlp(l, Proj.GATE), ff, d),
              ck.floats(names.denseMlp(l, Proj.UP), ff, d),
              ck.floats(names.denseMlp(l, Proj.DOWN), d, ff),
              ff,
              d);
      return new DecoderLayer(l, in, attention, post, null, new FeedForward(k, null));
    }
    ArchConfig.Moe moe = c.moe();
    Matrix gate = Matrix.load(ck, names.gate(l), moe.experts(), d, null);
    float[] bias = null;
    if (moe.sigmoidScores()) {
      bias =
          ck.has(names.gateBias(l))
              ? ck.floats(names.gateBias(l), moe.experts())
              : new float[moe.experts()];
    }
    FeedForward shared = null;
    if (moe.sharedIntermediateSize() > 0) {
      int sff = moe.sharedIntermediateSize();
      ExpertKernel k =
          ExpertKernel.fromHf(
              ck.floats(names.sharedExpert(l, Proj.GATE), sff, d),
              ck.floats(names.sharedExpert(l, Proj.UP), sff, d),
              ck.floats(names.sharedExpert(l, Proj.DOWN), d, sff),
              sff,
              d);
      float[] g = moe.sharedExpertGate() ? ck.floats(names.sharedExpertGate(l), 1, d) : null;
      shared = new FeedForward(k, g);
    }
    return new DecoderLayer(
        l, in, attention, post, new MoeBlock(gate, GateRule.of(moe, bias), shared), null);
  }

  private static Attention gqa(ArchConfig c, Checkpoint ck, WeightNames names, int l, Rope rope)
      throws IOException {
    ArchConfig.Attention a = c.attention();
    int d = c.hiddenSize();
    int qw = a.heads() * a.headDim();
    int kw = a.kvHeads() * a.headDim();
    boolean b = a.qkvBias();
    Matrix q =
        Matrix.load(
            ck,
            names.attention(l, "q_proj", "weight"),
            qw,
            d,
            b ? names.attention(l, "q_proj", "bias") : null);
    Matrix k =
        Matrix.load(
            ck,
            names.attention(l, "k_proj", "weight"),
            kw,
            d,
            b ? names.attention(l, "k_proj", "bias") : null);
    Matrix v =
        Matrix.load(
            ck,
            names.attention(l, "v_proj", "weight"),
            kw,
            d,
            b ? names.attention(l, "v_proj", "bias") : null);
    Matrix o =
        Matrix.load(
            ck,
            names.attention(l, "o_proj", "weight"),
            d,
            qw,
            a.outBias() ? names.attention(l, "o_proj", "bias") : null);
    RmsNorm qn = null;
    RmsNorm kn = null;
    if (a.qkNorm()) {
      qn = norm(ck, names.attention(l, "q_norm", "weight"), a.headDim(), c.rmsNormEps());
      kn = norm(ck, names.attention(l, "k_norm", "weight"), a.headDim(), c.rmsNormEps());
    }
    return new GqaAttention(a, a.window(l), q, k, v, o, qn, kn, rope);
  }

  private static Attention mla(ArchConfig c, Checkpoint ck, WeightNames names, int l, Rope rope)
      throws IOException {
    ArchConfig.Attention a = c.attention();
    ArchConfig.Mla m = a.mla();
    int d = c.hiddenSize();
    int qw = a.heads() * m.qkHeadDim();
    boolean b = a.qkvBias();
    Matrix qa;
    RmsNorm qaNorm = null;
    Matrix qb = null;
    if (m.qLoraRank() > 0) {
      qa =
          Matrix.load(
              ck,
              names.attention(l, "q_a_proj", "weight"),
              m.qLoraRank(),
              d,
              b ? names.attention(l, "q_a_proj", "bias") : null);
      qaNorm =
          norm(ck, names.attention(l, "q_a_layernorm", "weight"), m.qLoraRank(), c.rmsNormEps());
      qb = Matrix.load(ck, names.attention(l, "q_b_proj", "weight"), qw, m.qLoraRank(), null);
    } else {
      qa = Matrix.load(ck, names.attention(l, "q_proj", "weight"), qw, d, null);
    }
    Matrix kva =
        Matrix.load(
            ck,
            names.attention(l, "kv_a_proj_with_mqa", "weight"),
            m.kvLoraRank() + m.qkRopeHeadDim(),
            d,
            b ? names.attention(l, "kv_a_proj_with_mqa", "bias") : null);
    RmsNorm kvNorm =
        norm(ck, names.attention(l, "kv_a_layernorm", "weight"), m.kvLoraRank(), c.rmsNormEps());
    float[] kvb =
        ck.floats(
            names.attention(l, "kv_b_proj", "weight"),
            (long) a.heads() * (m.qkNopeHeadDim() + m.vHeadDim()),
            m.kvLoraRank());
    Matrix o =
        Matrix.load(
            ck,
            names.attention(l, "o_proj", "weight"),
            d,
            a.heads() * m.vHeadDim(),
            a.outBias() ? names.attention(l, "o_proj", "bias") : null);
    return new MlaAttention(a, qa, qaNorm, qb, kva, kvNorm, kvb, o, rope);
  }

  private static RmsNorm norm(Checkpoint ck, String name, int size, double eps) throws IOException {
    return new RmsNorm(ck.floats(name, size), eps);
  }

  public ArchConfig config() {
    return config;
  }

  public List<DecoderLayer> layers() {
    return layers;
  }

  public Matrix embed() {
    return embed;
  }

  public RmsNorm finalNorm() {
    return finalNorm;
  }

  public Matrix lmHead() {
    return lmHead;
  }

  public Rope rope() {
    return rope;
  }

  /** Floats per token per layer in the KV cache. */
  public int cacheRowWidth() {
    return layers.get(0).attention().cacheRowWidth();
  }

  /** Bytes of the weights held here (the LM head once when tied). */
  public long weightBytes() {
    long b = embed.bytes() + (lmHead == embed ? 0 : lmHead.bytes()) + 4L * finalNorm.size();
    for (DecoderLayer l : layers) {
      b += l.weightBytes();
    }
    return b;
  }
}
