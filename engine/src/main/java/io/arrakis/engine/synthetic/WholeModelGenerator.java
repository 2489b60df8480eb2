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
      long seed) {}

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
