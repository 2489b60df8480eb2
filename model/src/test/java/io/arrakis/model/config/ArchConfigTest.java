package io.arrakis.model.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

/** Whole-model configs of the four families in both Hub spellings. */
class ArchConfigTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  private static ObjectNode qwen2(boolean newSpelling) {
    ObjectNode o = JSON.createObjectNode();
    o.put("model_type", "qwen2_moe")
        .put("vocab_size", 512)
        .put("hidden_size", 64)
        .put("num_hidden_layers", 4)
        .put("num_attention_heads", 4)
        .put("num_key_value_heads", 2)
        .put("intermediate_size", 128)
        .put("moe_intermediate_size", 32)
        .put("shared_expert_intermediate_size", 96)
        .put("num_experts", 16)
        .put("num_experts_per_tok", 4)
        .put("decoder_sparse_step", 2)
        .put("some_future_field", "ignored");
    o.putArray("mlp_only_layers").add(3);
    if (newSpelling) {
      o.putObject("rope_parameters").put("rope_theta", 1e6).put("rope_type", "default");
      o.put("dtype", "bfloat16");
    } else {
      o.put("rope_theta", 1e6).putNull("rope_scaling");
      o.put("torch_dtype", "bfloat16");
    }
    return o;
  }

  @Test
  void bothSpellingsOfRopeAndDtypeReadTheSame() {
    ArchConfig classic = ArchConfig.fromJson(qwen2(false));
    ArchConfig v5 = ArchConfig.fromJson(qwen2(true));
    assertThat(v5).isEqualTo(classic);
    assertThat(v5.rope().theta()).isEqualTo(1e6);
    assertThat(v5.dtype()).isEqualTo("bfloat16");
  }

  @Test
  void qwen2DenseLayersFollowSparseStepAndMlpOnlyLayers() {
    ArchConfig c = ArchConfig.fromJson(qwen2(true));
    // MoE where (l + 1) % 2 == 0 and l not in mlp_only_layers [3]
    assertThat(c.moeLayers()).containsExactly(false, true, false, false);
    assertThat(c.moe().sharedExpertGate()).isTrue();
    assertThat(c.moe().normTopkProb()).isFalse(); // transformers' default for qwen2_moe
    assertThat(c.attention().qkvBias()).isTrue();
  }

  @Test
  void deepseekYarnScalesTheSoftmaxByMscaleSquared() {
    ObjectNode o = JSON.createObjectNode();
    o.put("model_type", "deepseek_v3")
        .put("vocab_size", 512)
        .put("hidden_size", 64)
        .put("num_hidden_layers", 3)
        .put("num_attention_heads", 4)
        .put("intermediate_size", 128)
        .put("moe_intermediate_size", 32)
        .put("n_routed_experts", 16)
        .put("num_experts_per_tok", 4)
        .put("kv_lora_rank", 32)
        .put("qk_nope_head_dim", 16)
        .put("qk_rope_head_dim", 8)
        .put("v_head_dim", 16)
        .putNull("q_lora_rank")
        .put("first_k_dense_replace", 1)
        .put("n_group", 4)
        .put("topk_group", 2)
        .put("n_shared_experts", 2);
    o.putObject("rope_scaling")
        .put("type", "yarn")
        .put("factor", 40)
        .put("mscale_all_dim", 0.707)
        .put("original_max_position_embeddings", 4096);
    ArchConfig c = ArchConfig.fromJson(o);
    double m = 0.1 * 0.707 * Math.log(40) + 1;
    assertThat(c.attention().softmaxScale()).isEqualTo(1 / Math.sqrt(24) * m * m);
    assertThat(c.attention().mla().qLoraRank()).isZero();
    assertThat(c.rope().interleaved()).isTrue();
    assertThat(c.rope().dim()).isEqualTo(8);
    assertThat(c.moeLayers()).containsExactly(false, true, true);
    assertThat(c.moe().sharedIntermediateSize()).isEqualTo(64);
    assertThat(c.moe().sigmoidScores()).isTrue();
  }

  @Test
  void anUnsupportedRopeTypeIsNamed() {
    ObjectNode o = qwen2(true);
    ((ObjectNode) o.get("rope_parameters")).put("rope_type", "longrope");
    assertThatThrownBy(() -> ArchConfig.fromJson(o))
        .hasMessageContaining("unsupported rope type 'longrope'");
  }

  @Test
  void headsMustGroupEvenly() {
    ObjectNode o = qwen2(true).put("num_key_value_heads", 3);
    assertThatThrownBy(() -> ArchConfig.fromJson(o))
        .hasMessageContaining(
            "num_attention_heads (4) is not a multiple of num_key_value_heads (3)");
  }

  @Test
  void aMissingModelTypeIsNamed() {
    ObjectNode o = qwen2(true);
    o.remove("model_type");
    assertThatThrownBy(() -> ArchConfig.fromJson(o))
        .hasMessageContaining("missing required field 'model_type'");
  }

  @Test
  void qwenSlidesOnlyWithUseSlidingWindowAndInTheLayersLayerTypesNames() {
    ObjectNode o = qwen2(true).put("sliding_window", 64);
    assertThat(ArchConfig.fromJson(o).attention().windows()).containsExactly(0, 0, 0, 0);
    o.put("use_sliding_window", true);
    o.putArray("layer_types")
        .add("sliding_attention")
        .add("full_attention")
        .add("sliding_attention")
        .add("full_attention");
    ArchConfig c = ArchConfig.fromJson(o);
    assertThat(c.attention().windows()).containsExactly(64, 0, 64, 0);
    assertThat(c.attention().window(2)).isEqualTo(64);
  }

  @Test
  void qwen2WithoutLayerTypesIsRefusedRatherThanGuessed() {
    ObjectNode o = qwen2(true).put("sliding_window", 64).put("use_sliding_window", true);
    assertThatThrownBy(() -> ArchConfig.fromJson(o))
        .hasMessageContaining("use_sliding_window is set but 'layer_types' is not");
  }

  @Test
  void qwen3AndMixtralSlideInEveryLayerWithoutLayerTypes() {
    ObjectNode qwen3 =
        qwen2(true)
            .put("model_type", "qwen3_moe")
            .put("sliding_window", 32)
            .put("use_sliding_window", true);
    assertThat(ArchConfig.fromJson(qwen3).attention().windows()).containsOnly(32).hasSize(4);
    ObjectNode mixtral = qwen2(true).put("model_type", "mixtral").putNull("sliding_window");
    assertThat(ArchConfig.fromJson(mixtral).attention().windows()).containsOnly(0);
    mixtral.put("sliding_window", 16);
    assertThat(ArchConfig.fromJson(mixtral).attention().windows()).containsOnly(16);
  }

  @Test
  void badWindowsAndLayerTypesAreNamed() {
    ObjectNode types = qwen2(true).put("sliding_window", 64).put("use_sliding_window", true);
    types.putArray("layer_types").add("full_attention").add("chunked_attention");
    assertThatThrownBy(() -> ArchConfig.fromJson(types))
        .hasMessageContaining("'layer_types' must list one type per layer (4)");
    ((ArrayNode) types.get("layer_types")).add("full_attention").add("full_attention");
    assertThatThrownBy(() -> ArchConfig.fromJson(types))
        .hasMessageContaining("unsupported layer type \"chunked_attention\"");
    ObjectNode zero = qwen2(true).put("model_type", "mixtral").put("sliding_window", 0);
    assertThatThrownBy(() -> ArchConfig.fromJson(zero))
        .hasMessageContaining("field 'sliding_window' must be positive when it is used, got 0");
    ObjectNode unset = qwen2(true).put("use_sliding_window", false);
    unset
        .putArray("layer_types")
        .add("sliding_attention")
        .add("full_attention")
        .add("full_attention")
        .add("full_attention");
    assertThatThrownBy(() -> ArchConfig.fromJson(unset))
        .hasMessageContaining("'layer_types' has sliding_attention layers but no sliding window");
  }

  @Test
  void anActivationOtherThanSiluIsRefused() {
    ObjectNode o = qwen2(true).put("hidden_act", "gelu");
    assertThatThrownBy(() -> ArchConfig.fromJson(o))
        .hasMessageContaining("unsupported hidden_act 'gelu' (supported: silu");
    assertThat(ArchConfig.fromJson(qwen2(true).put("hidden_act", "swish"))).isNotNull();
  }

  @Test
  void deepseekHasNoSlidingWindow() {
    ObjectNode o = qwen2(true).put("model_type", "deepseek_v3");
    o.put("kv_lora_rank", 32).put("qk_nope_head_dim", 16).put("qk_rope_head_dim", 8);
    o.put("v_head_dim", 16).put("n_routed_experts", 16).put("sliding_window", 8);
    assertThat(ArchConfig.fromJson(o).attention().windows()).containsOnly(0);
  }
}
