package io.arrakis.engine.synthetic;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.arrakis.model.config.ArchConfig;
import io.arrakis.model.config.Family;
import io.arrakis.model.safetensors.SafetensorsWriter;
import io.arrakis.model.safetensors.StDType;
import io.arrakis.model.tensor.Bf16;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * Writes a random whole model of a family in the Hub layout: config.json (classic spelling),
 * generation_config.json, model.safetensors, and a tokenizer (the reference models' 512-token
 * byte-level BPE with a ChatML template). Weights are Gaussian with transformers' initializer
 * range, norms 1, biases 0. For demos, tests and benchmarks.
 */
public final class WholeModelGenerator {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int TOKENIZER_VOCAB = 512;

  /**
   * The model's shape; {@code headDim}, {@code sharedFfn} and {@code kvHeads} 0 take the family's
   * usual choice.
   */
  public record Shape(
      Family family,
      int layers,
      int hidden,
      int heads,
      int kvHeads,
      int headDim,
      int experts,
      int topK,
      int expertFfn,
      int denseFfn,
      int sharedFfn,
      int vocab,
      boolean bf16,
      long seed) {

    /**
     * A small model of {@code family} (2 layers, hidden 64, 4 heads, 8 experts of width 64, top-2,
     * dense layers 256 wide, the family's usual KV heads, head size and shared expert, 512 tokens,
     * f32, seed 7), to change with the methods below.
     */
    public static Shape of(Family family) {
      return new Shape(family, 2, 64, 4, 0, 0, 8, 2, 64, 256, 0, TOKENIZER_VOCAB, false, 7);
    }

    public Shape layers(int n) {
      return with(c -> c.layers = n);
    }

    public Shape hidden(int size) {
      return with(c -> c.hidden = size);
    }

    /** Query heads, KV heads and head size (0: the family's usual choice). */
    public Shape attention(int queryHeads, int keyValueHeads, int headSize) {
      return with(
          c -> {
            c.heads = queryHeads;
            c.kvHeads = keyValueHeads;
            c.headDim = headSize;
          });
    }

    /** Routed experts per MoE layer, experts per token, and each expert's FFN width. */
    public Shape experts(int count, int perToken, int ffn) {
      return with(
          c -> {
            c.experts = count;
            c.topK = perToken;
            c.expertFfn = ffn;
          });
    }

    /** FFN widths of the dense layers and of the shared expert (0: the family's usual choice). */
    public Shape ffn(int dense, int shared) {
      return with(
          c -> {
            c.denseFfn = dense;
            c.sharedFfn = shared;
          });
    }

    public Shape vocab(int tokens) {
      return with(c -> c.vocab = tokens);
    }

    /** Weights in bf16 rather than f32. */
    public Shape bf16(boolean on) {
      return with(c -> c.bf16 = on);
    }

    public Shape seed(long value) {
      return with(c -> c.seed = value);
    }

    private Shape with(Consumer<Copy> change) {
      Copy c = new Copy(this);
      change.accept(c);
      return new Shape(
          family,
          c.layers,
          c.hidden,
          c.heads,
          c.kvHeads,
          c.headDim,
          c.experts,
          c.topK,
          c.expertFfn,
          c.denseFfn,
          c.sharedFfn,
          c.vocab,
          c.bf16,
          c.seed);
    }

    /** The components of a shape, to change some before making a new one. */
    private static final class Copy {
      int layers;
      int hidden;
      int heads;
      int kvHeads;
      int headDim;
      int experts;
      int topK;
      int expertFfn;
      int denseFfn;
      int sharedFfn;
      int vocab;
      boolean bf16;
      long seed;

      Copy(Shape s) {
        layers = s.layers;
        hidden = s.hidden;
        heads = s.heads;
        kvHeads = s.kvHeads;
        headDim = s.headDim;
        experts = s.experts;
        topK = s.topK;
        expertFfn = s.expertFfn;
        denseFfn = s.denseFfn;
        sharedFfn = s.sharedFfn;
        vocab = s.vocab;
        bf16 = s.bf16;
        seed = s.seed;
      }
    }
  }

  private WholeModelGenerator() {}

  /** config.json for a shape. */
  public static ObjectNode config(Shape s) {
    ObjectNode o = JSON.createObjectNode();
    Family f = s.family();
    String arch =
        switch (f) {
          case MIXTRAL -> "MixtralForCausalLM";
          case QWEN2_MOE -> "Qwen2MoeForCausalLM";
          case QWEN3_MOE -> "Qwen3MoeForCausalLM";
          case DEEPSEEK_V3 -> "DeepseekV3ForCausalLM";
        };
    o.putArray("architectures").add(arch);
    o.put("model_type", f.modelType());
    o.put("vocab_size", Math.max(s.vocab(), TOKENIZER_VOCAB));
    o.put("hidden_size", s.hidden());
    o.put("num_hidden_layers", s.layers());
    o.put("num_attention_heads", s.heads());
    o.put(
        "num_key_value_heads",
        s.kvHeads() > 0
            ? s.kvHeads()
            : f == Family.DEEPSEEK_V3 ? s.heads() : Math.max(1, s.heads() / 4));
    o.put("num_experts_per_tok", s.topK());
    o.put("rms_norm_eps", 1e-6);
    o.put("max_position_embeddings", 4096);
    o.put("tie_word_embeddings", false);
    o.put("torch_dtype", s.bf16() ? "bfloat16" : "float32");
    o.put("eos_token_id", 2);
    o.put("initializer_range", 0.02);
    switch (f) {
      case MIXTRAL -> {
        o.put("num_local_experts", s.experts());
        o.put("intermediate_size", s.expertFfn());
        o.put("rope_theta", 1e6);
      }
      case QWEN2_MOE -> {
        o.put("num_experts", s.experts());
        o.put("intermediate_size", s.denseFfn());
        o.put("moe_intermediate_size", s.expertFfn());
        o.put(
            "shared_expert_intermediate_size",
            s.sharedFfn() > 0 ? s.sharedFfn() : 4 * s.expertFfn());
        o.put("norm_topk_prob", false);
        o.put("decoder_sparse_step", 1);
        o.putArray("mlp_only_layers");
        o.put("qkv_bias", true);
        o.put("rope_theta", 1e6);
      }
      case QWEN3_MOE -> {
        o.put("num_experts", s.experts());
        o.put("intermediate_size", s.denseFfn());
        o.put("moe_intermediate_size", s.expertFfn());
        o.put("head_dim", s.headDim() > 0 ? s.headDim() : s.hidden() / s.heads());
        o.put("norm_topk_prob", true);
        o.put("decoder_sparse_step", 1);
        o.putArray("mlp_only_layers");
        o.put("rope_theta", 1e6);
      }
      case DEEPSEEK_V3 -> {
        int head = s.headDim() > 0 ? s.headDim() : s.hidden() / s.heads();
        o.put("n_routed_experts", s.experts());
        o.put("intermediate_size", s.denseFfn());
        o.put("moe_intermediate_size", s.expertFfn());
        o.put("n_shared_experts", Math.max(1, s.sharedFfn() / s.expertFfn()));
        o.put("kv_lora_rank", 4 * head);
        o.put("q_lora_rank", s.hidden() / 2);
        o.put("qk_nope_head_dim", head);
        o.put("qk_rope_head_dim", Math.max(2, head / 2));
        o.put("v_head_dim", head);
        o.put("first_k_dense_replace", 1);
        int groups = s.experts() % 8 == 0 ? 8 : s.experts() % 4 == 0 ? 4 : 1;
        o.put("n_group", groups);
        o.put("topk_group", Math.max(1, groups / 2));
        o.put("routed_scaling_factor", 2.5);
        o.put("norm_topk_prob", true);
        o.put("rope_theta", 10000.0);
        o.putObject("rope_scaling")
            .put("type", "yarn")
            .put("factor", 4.0)
            .put("beta_fast", 32)
            .put("beta_slow", 1)
            .put("mscale", 1.0)
            .put("mscale_all_dim", 1.0)
            .put("original_max_position_embeddings", 1024);
      }
    }
    return o;
  }

  /** Writes the model into {@code dir} (created if absent); returns its config. */
  public static ArchConfig generate(Path dir, Shape s) throws IOException {
    Files.createDirectories(dir);
    ObjectNode json = config(s);
    ArchConfig config = ArchConfig.fromJson(json);
    if (config.family() == Family.DEEPSEEK_V3
        && config.moe().topK()
            > config.moe().experts() / config.moe().nGroup() * config.moe().topkGroup()) {
      throw new IllegalArgumentException(
          "top-k " + s.topK() + " is more than the experts of the groups a token may use");
    }
    Files.writeString(
        dir.resolve("config.json"),
        JSON.writerWithDefaultPrettyPrinter().writeValueAsString(json) + "\n");
    Files.writeString(
        dir.resolve("generation_config.json"),
        "{\n  \"eos_token_id\": 2,\n  \"pad_token_id\": 0\n}\n");
    for (String f : new String[] {"tokenizer.json", "tokenizer_config.json"}) {
      try (InputStream in = WholeModelGenerator.class.getResourceAsStream(f)) {
        Files.copy(in, dir.resolve(f), StandardCopyOption.REPLACE_EXISTING);
      }
    }
    List<ModelTensors.Tensor> tensors = ModelTensors.of(config);
    StDType type = s.bf16() ? StDType.BF16 : StDType.F32;
    List<SafetensorsWriter.Entry> entries =
        tensors.stream().map(t -> new SafetensorsWriter.Entry(t.name(), type, t.shape())).toList();
    SplittableRandom random = new SplittableRandom(s.seed());
    Path tmp = dir.resolve("model.safetensors.tmp");
    try (SafetensorsWriter w = SafetensorsWriter.create(tmp, entries, Map.of("format", "pt"))) {
      for (ModelTensors.Tensor t : tensors) {
        w.write(values(t, type, random));
      }
    }
    Files.move(tmp, dir.resolve("model.safetensors"), StandardCopyOption.REPLACE_EXISTING);
    return config;
  }

  private static ByteBuffer values(ModelTensors.Tensor t, StDType type, SplittableRandom random) {
    int n = Math.toIntExact(t.elements());
    ByteBuffer b = ByteBuffer.allocate(n * type.size()).order(ByteOrder.LITTLE_ENDIAN);
    boolean norm = t.role() == ModelTensors.Role.NORM;
    boolean zero = t.name().endsWith(".bias") || t.name().endsWith("e_score_correction_bias");
    for (int i = 0; i < n; i++) {
      float v = norm ? 1f : zero ? 0f : (float) (random.nextGaussian() * 0.02);
      if (type == StDType.BF16) {
        b.putShort(Bf16.fromFloat(v));
      } else {
        b.putFloat(v);
      }
    }
    return b.flip();
  }
}
