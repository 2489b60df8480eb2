package io.arrakis.engine.synthetic;

import io.arrakis.model.checkpoint.WeightNames;
import io.arrakis.model.checkpoint.WeightNames.Proj;
import io.arrakis.model.config.ArchConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/** Every tensor a model of a config has, with its shape and role (for generating and counting). */
public final class ModelTensors {
  /** What a tensor is for. */
  public enum Role {
    EMBEDDING,
    ATTENTION,
    NORM,
    GATE,
    ROUTED_EXPERT,
    SHARED_EXPERT,
    DENSE_MLP,
    LM_HEAD
  }

  /** A tensor; {@code expert} is its routed expert's id (else -1). */
  public record Tensor(String name, long[] shape, Role role, int layer, int expert) {
    public long elements() {
      long n = 1;
      for (long d : shape) {
        n *= d;
      }
      return n;
    }
  }

  private ModelTensors() {}

  public static List<Tensor> of(ArchConfig c) {
    WeightNames n = WeightNames.of(c.family());
    List<Tensor> out = new ArrayList<>();
    long d = c.hiddenSize();
    out.add(new Tensor(WeightNames.EMBED, new long[] {c.vocabSize(), d}, Role.EMBEDDING, -1, -1));
    ArchConfig.Attention a = c.attention();
    for (int l = 0; l < c.numLayers(); l++) {
      out.add(new Tensor(n.inputNorm(l), new long[] {d}, Role.NORM, l, -1));
      if (a.mla() == null) {
        long qw = (long) a.heads() * a.headDim();
        long kw = (long) a.kvHeads() * a.headDim();
        attn(out, n, l, "q_proj", qw, d, a.qkvBias());
        attn(out, n, l, "k_proj", kw, d, a.qkvBias());
        attn(out, n, l, "v_proj", kw, d, a.qkvBias());
        attn(out, n, l, "o_proj", d, qw, a.outBias());
        if (a.qkNorm()) {
          out.add(
              new Tensor(
                  n.attention(l, "q_norm", "weight"), new long[] {a.headDim()}, Role.NORM, l, -1));
          out.add(
              new Tensor(
                  n.attention(l, "k_norm", "weight"), new long[] {a.headDim()}, Role.NORM, l, -1));
        }
      } else {
        ArchConfig.Mla m = a.mla();
        long qw = (long) a.heads() * m.qkHeadDim();
        if (m.qLoraRank() > 0) {
          attn(out, n, l, "q_a_proj", m.qLoraRank(), d, a.qkvBias());
          out.add(
              new Tensor(
                  n.attention(l, "q_a_layernorm", "weight"),
                  new long[] {m.qLoraRank()},
                  Role.NORM,
                  l,
                  -1));
          attn(out, n, l, "q_b_proj", qw, m.qLoraRank(), false);
        } else {
          attn(out, n, l, "q_proj", qw, d, false);
        }
        attn(out, n, l, "kv_a_proj_with_mqa", m.kvLoraRank() + m.qkRopeHeadDim(), d, a.qkvBias());
        out.add(
            new Tensor(
                n.attention(l, "kv_a_layernorm", "weight"),
                new long[] {m.kvLoraRank()},
                Role.NORM,
                l,
                -1));
        attn(
            out,
            n,
            l,
            "kv_b_proj",
            (long) a.heads() * (m.qkNopeHeadDim() + m.vHeadDim()),
            m.kvLoraRank(),
            false);
        attn(out, n, l, "o_proj", d, (long) a.heads() * m.vHeadDim(), a.outBias());
      }
      out.add(new Tensor(n.postAttentionNorm(l), new long[] {d}, Role.NORM, l, -1));
      if (!c.isMoeLayer(l)) {
        final int layer = l;
        mlp(out, l, c.denseIntermediateSize(), d, Role.DENSE_MLP, -1, p -> n.denseMlp(layer, p));
        continue;
      }
      ArchConfig.Moe moe = c.moe();
      out.add(new Tensor(n.gate(l), new long[] {moe.experts(), d}, Role.GATE, l, -1));
      if (moe.sigmoidScores()) {
        out.add(new Tensor(n.gateBias(l), new long[] {moe.experts()}, Role.GATE, l, -1));
      }
      for (int e = 0; e < moe.experts(); e++) {
        final int ex = e;
        final int layer = l;
        mlp(
            out,
            l,
            moe.expertIntermediateSize(),
            d,
            Role.ROUTED_EXPERT,
            e,
            p -> n.expert(layer, ex, p));
      }
      if (moe.sharedIntermediateSize() > 0) {
        final int layer = l;
        mlp(
            out,
            l,
            moe.sharedIntermediateSize(),
            d,
            Role.SHARED_EXPERT,
            -1,
            p -> n.sharedExpert(layer, p));
        if (moe.sharedExpertGate()) {
          out.add(new Tensor(n.sharedExpertGate(l), new long[] {1, d}, Role.SHARED_EXPERT, l, -1));
        }
      }
    }
    out.add(new Tensor(WeightNames.FINAL_NORM, new long[] {d}, Role.NORM, -1, -1));
    if (!c.tieWordEmbeddings()) {
      out.add(new Tensor(WeightNames.LM_HEAD, new long[] {c.vocabSize(), d}, Role.LM_HEAD, -1, -1));
    }
    return out;
  }

  private static void attn(
      List<Tensor> out, WeightNames n, int l, String module, long rows, long cols, boolean bias) {
    out.add(
        new Tensor(
            n.attention(l, module, "weight"), new long[] {rows, cols}, Role.ATTENTION, l, -1));
    if (bias) {
      out.add(new Tensor(n.attention(l, module, "bias"), new long[] {rows}, Role.ATTENTION, l, -1));
    }
  }

  private static void mlp(
      List<Tensor> out,
      int l,
      long ff,
      long d,
      Role role,
      int expert,
      Function<Proj, String> name) {
    out.add(new Tensor(name.apply(Proj.GATE), new long[] {ff, d}, role, l, expert));
    out.add(new Tensor(name.apply(Proj.UP), new long[] {ff, d}, role, l, expert));
    out.add(new Tensor(name.apply(Proj.DOWN), new long[] {d, ff}, role, l, expert));
  }
}
