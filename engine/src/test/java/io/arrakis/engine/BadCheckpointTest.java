package io.arrakis.engine;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.arrakis.engine.testing.Checkpoints;
import io.arrakis.model.config.ModelConfigException;
import io.arrakis.model.safetensors.SafetensorsException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Checkpoints that cannot be run are refused at load, naming the tensor or field at fault. */
class BadCheckpointTest {
  @TempDir Path dir;

  private Engine load() throws IOException {
    return Engine.load(dir, EngineOptions.DEFAULT);
  }

  @Test
  void aMissingTensorIsNamed() throws IOException {
    Checkpoints.copy("qwen3_moe", dir);
    Checkpoints.editHeader(
        dir.resolve("model.safetensors"), h -> h.remove("model.layers.2.self_attn.k_norm.weight"));

    assertThatThrownBy(this::load)
        .isInstanceOf(ModelConfigException.class)
        .hasMessageContaining("missing tensor 'model.layers.2.self_attn.k_norm.weight'");
  }

  @Test
  void aMissingExpertIsNamed() throws IOException {
    Checkpoints.copy("deepseek_v3", dir);
    Checkpoints.editHeader(
        dir.resolve("model.safetensors"),
        h -> h.remove("model.layers.2.mlp.experts.15.down_proj.weight"));

    assertThatThrownBy(this::load)
        .isInstanceOf(ModelConfigException.class)
        .hasMessageContaining("missing tensor 'model.layers.2.mlp.experts.15.down_proj.weight'");
  }

  @Test
  void aTensorOfTheWrongShapeIsNamedWithBothShapes() throws IOException {
    Checkpoints.copy("mixtral", dir);
    Checkpoints.editHeader(
        dir.resolve("model.safetensors"),
        h -> {
          var e = (ObjectNode) h.get("model.layers.1.self_attn.k_proj.weight");
          e.putArray("shape").add(64).add(32); // same bytes, transposed shape
        });

    assertThatThrownBy(this::load)
        .isInstanceOf(ModelConfigException.class)
        .hasMessageContaining("'model.layers.1.self_attn.k_proj.weight' has shape [64, 32]")
        .hasMessageContaining("[32, 64]");
  }

  @Test
  void aWeightOfANonFloatDtypeIsRefused() throws IOException {
    Checkpoints.copy("qwen2_moe", dir);
    Checkpoints.editHeader(
        dir.resolve("model.safetensors"),
        h -> ((ObjectNode) h.get("model.layers.0.self_attn.q_proj.bias")).put("dtype", "I16"));

    assertThatThrownBy(this::load)
        .isInstanceOf(ModelConfigException.class)
        .hasMessageContaining("'model.layers.0.self_attn.q_proj.bias' has dtype I16");
  }

  @Test
  void anUnknownDtypeIsRefusedNamingTheTensor() throws IOException {
    Checkpoints.copy("qwen2_moe", dir);
    Checkpoints.editHeader(
        dir.resolve("model.safetensors"),
        h -> ((ObjectNode) h.get("model.norm.weight")).put("dtype", "Q4_K"));

    assertThatThrownBy(this::load)
        .isInstanceOf(SafetensorsException.class)
        .hasMessageContaining("'model.norm.weight'")
        .hasMessageContaining("unsupported dtype Q4_K");
  }

  @Test
  void aTruncatedFileIsRefused() throws IOException {
    Checkpoints.copy("mixtral", dir);
    try (FileChannel ch =
        FileChannel.open(dir.resolve("model.safetensors"), StandardOpenOption.WRITE)) {
      ch.truncate(ch.size() - 100);
    }

    assertThatThrownBy(this::load)
        .isInstanceOf(SafetensorsException.class)
        .hasMessageContaining("run past the end of the data")
        .hasMessageContaining("truncated");
  }

  @Test
  void aConfigWithMoreLayersThanTheWeightsIsRefusedNamingTheFirstMissingTensor()
      throws IOException {
    Checkpoints.copy("qwen2_moe", dir);
    // layer_types (one per layer, as transformers 5 writes it) grows with the layers, as
    // transformers requires
    Checkpoints.editConfig(
        dir,
        c -> {
          c.put("num_hidden_layers", 3);
          ((ArrayNode) c.get("layer_types")).add("full_attention");
        });

    assertThatThrownBy(this::load)
        .isInstanceOf(ModelConfigException.class)
        .hasMessageContaining("missing tensor 'model.layers.2.");
  }

  @Test
  void aConfigWhoseExpertWidthContradictsTheWeightsIsRefused() throws IOException {
    Checkpoints.copy("deepseek_v3", dir);
    Checkpoints.editConfig(dir, c -> c.put("moe_intermediate_size", 48));

    assertThatThrownBy(this::load)
        .isInstanceOf(ModelConfigException.class)
        .hasMessageContaining("'model.layers.1.mlp.experts.0.gate_proj.weight' has shape [32, 64]")
        .hasMessageContaining("[48, 64]");
  }

  @Test
  void aConfigWhoseVocabularyContradictsTheEmbeddingsIsRefused() throws IOException {
    Checkpoints.copy("qwen3_moe", dir);
    Checkpoints.editConfig(dir, c -> c.put("vocab_size", 600));

    assertThatThrownBy(this::load)
        .isInstanceOf(ModelConfigException.class)
        .hasMessageContaining("'model.embed_tokens.weight' has shape [512, 64]");
  }

  @Test
  void anUnsupportedModelTypeIsRefusedInOneLineNamingTheSupportedOnes() throws IOException {
    Checkpoints.copy("mixtral", dir);
    Checkpoints.editConfig(dir, c -> c.put("model_type", "llama"));

    assertThatThrownBy(this::load)
        .isInstanceOf(ModelConfigException.class)
        .hasMessageContaining(
            "unsupported model_type 'llama' (supported: mixtral, qwen2_moe, qwen3_moe, deepseek_v3)")
        .hasMessageNotContaining("\n");
  }

  @Test
  void missingRequiredFieldsAreNamed() throws IOException {
    Checkpoints.copy("deepseek_v3", dir);
    Checkpoints.editConfig(
        dir,
        c -> {
          c.remove("kv_lora_rank");
          c.remove("vocab_size");
        });

    assertThatThrownBy(this::load)
        .isInstanceOf(ModelConfigException.class)
        .hasMessageContaining(
            "missing required fields 'vocab_size', 'kv_lora_rank' for deepseek_v3");
  }
}
