package io.arrakis.expert.gpucheck;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.arrakis.model.kernel.backend.BackendExpert;
import io.arrakis.model.kernel.backend.BackendWork;
import io.arrakis.model.kernel.backend.ExpertBackend;
import io.arrakis.model.kernel.backend.ExpertWeights;
import io.arrakis.model.kernel.cuda.CudaBackend;
import io.arrakis.model.kernel.cuda.CudaOptions;
import io.arrakis.model.tensor.TensorCheckException;
import io.arrakis.proto.v1.DType;
import io.arrakis.proto.v1.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * Correctness on the device against independent references: every layer fixture of
 * ../shared/fixtures (PyTorch) and every MoE block of ../shared/models (transformers' moe_in_L →
 * moe_out_L). The backend computes the routed experts; gates and shared experts run here in plain
 * Java (float32 data, double sums). Each case runs with float32 and with bf16 rows on the wire and,
 * on a GPU, through both expert paths (the grouped kernels and cuBLAS).
 *
 * <p>Pass: max|got − expected| ≤ {@value #TOLERANCE} × max|expected|. The GPU rounds the rows, the
 * weights and the SwiGLU activations to bf16 and accumulates in float32; a bf16 emulation of that
 * pipeline lands at 3–6e-3 on the fixtures, so the bound leaves a factor of 3.
 */
final class CorrectnessCheck {
  static final double TOLERANCE = 2e-2;
  private static final JsonNodeFactory JSON = JsonNodeFactory.instance;

  private final ExpertBackend backend;
  private final List<Variant> variants;
  private final ArrayNode cases = JSON.arrayNode();
  private int failed;

  /** One way to run a batch: a name and the expert paths (CUDA) or none (CPU). */
  record Variant(String name, CudaOptions policy) {}

  CorrectnessCheck(ExpertBackend backend) {
    this.backend = backend;
    this.variants =
        backend instanceof CudaBackend cuda
            ? List.of(
                new Variant("grouped", cuda.options().allGrouped()),
                new Variant("cublas", cuda.options().allCublas()))
            : List.of(new Variant(backend.name(), null));
  }

  ObjectNode run(Path fixtures, Path models) throws IOException, TensorCheckException {
    if (fixtures != null && Files.isDirectory(fixtures)) {
      for (Path dir : sorted(fixtures)) {
        fixture(dir);
      }
    }
    if (models != null && Files.isDirectory(models)) {
      for (Path dir : sorted(models)) {
        model(dir);
      }
    }
    ObjectNode out = JSON.objectNode();
    out.put("tolerance", "max|got - expected| <= " + TOLERANCE + " * max|expected|");
    out.put("cases", cases.size());
    out.put("failed", failed);
    out.set("results", cases);
    return out;
  }

  private static List<Path> sorted(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.filter(Checkpoint::exists).sorted().toList();
    }
  }

  /** A fixture: Mixtral tensor names, routing as PyTorch chose it (topk_ids, topk_weights). */
  private void fixture(Path dir) throws IOException, TensorCheckException {
    try (Checkpoint model = new Checkpoint(dir, "model.safetensors");
        Checkpoint input = new Checkpoint(dir, "input.safetensors")) {
      int d = model.intConfig("hidden_size");
      int experts = model.intConfig("num_local_experts");
      int k = model.intConfig("num_experts_per_tok");
      float[][] x =
          Rows.reshape(
              input.floats("hidden_states"), Math.toIntExact(input.shape("hidden_states")[0]), d);
      for (int layer = 0;
          Files.exists(dir.resolve("expected-layer" + layer + ".safetensors"));
          layer++) {
        try (Checkpoint expected = new Checkpoint(dir, "expected-layer" + layer + ".safetensors")) {
          long[] ids = expected.longs("topk_ids");
          float[] w = expected.floats("topk_weights");
          int[][] rid = new int[x.length][k];
          float[][] rw = new float[x.length][k];
          for (int t = 0; t < x.length; t++) {
            for (int j = 0; j < k; j++) {
              rid[t][j] = (int) ids[t * k + j];
              rw[t][j] = w[t * k + j];
            }
          }
          ExpertWeights[] weights = new ExpertWeights[experts];
          for (int e = 0; e < experts; e++) {
            String p = "model.layers." + layer + ".block_sparse_moe.experts." + e + ".";
            weights[e] = model.expert(p + "w1.weight", p + "w3.weight", p + "w2.weight");
          }
          float[][] want = Rows.reshape(expected.floats("output"), x.length, d);
          compare(
              "fixture " + dir.getFileName() + " layer " + layer,
              weights,
              x,
              new MoeReference.Routing(rid, rw),
              new float[x.length][d],
              want);
        }
      }
    }
  }

  /**
   * A transformers checkpoint: the gate of its family here, its shared expert here, the routed
   * experts on the device.
   */
  private void model(Path dir) throws IOException, TensorCheckException {
    if (!Files.exists(dir.resolve("expected.safetensors"))) {
      return;
    }
    try (Checkpoint model = new Checkpoint(dir, "model.safetensors");
        Checkpoint expected = new Checkpoint(dir, "expected.safetensors")) {
      String type = model.config.path("model_type").asText();
      int d = model.intConfig("hidden_size");
      int experts = model.intConfig("num_local_experts", "num_experts", "n_routed_experts");
      int k = model.intConfig("num_experts_per_tok");
      boolean mixtral = type.equals("mixtral");
      boolean renormalise = mixtral || model.config.path("norm_topk_prob").asBoolean(false);
      for (int layer = 0; layer < model.intConfig("num_hidden_layers"); layer++) {
        if (!expected.has("moe_in_" + layer)) {
          continue;
        }
        float[][] x =
            Rows.reshape(
                expected.floats("moe_in_" + layer),
                Math.toIntExact(expected.shape("moe_in_" + layer)[0]),
                d);
        float[][] want = Rows.reshape(expected.floats("moe_out_" + layer), x.length, d);
        String block = "model.layers." + layer + (mixtral ? ".block_sparse_moe." : ".mlp.");
        float[][] logits = MoeReference.linear(x, model.floats(block + "gate.weight"), experts, d);
        MoeReference.Routing routing =
            type.equals("deepseek_v3")
                ? MoeReference.deepseek(
                    logits,
                    model.floats(block + "gate.e_score_correction_bias"),
                    k,
                    model.intConfig("n_group"),
                    model.intConfig("topk_group"),
                    renormalise,
                    model.config.path("routed_scaling_factor").asDouble(1.0))
                : MoeReference.softmaxTopK(logits, k, renormalise);
        ExpertWeights[] weights = new ExpertWeights[experts];
        for (int e = 0; e < experts; e++) {
          String p = block + "experts." + e + ".";
          weights[e] =
              mixtral
                  ? model.expert(p + "w1.weight", p + "w3.weight", p + "w2.weight")
                  : model.expert(
                      p + "gate_proj.weight", p + "up_proj.weight", p + "down_proj.weight");
        }
        float[][] shared = new float[x.length][d];
        for (String name : new String[] {"shared_expert", "shared_experts"}) {
          if (model.has(block + name + ".gate_proj.weight")) {
            ExpertWeights s =
                model.expert(
                    block + name + ".gate_proj.weight",
                    block + name + ".up_proj.weight",
                    block + name + ".down_proj.weight");
            float[] sg =
                model.has(block + "shared_expert_gate.weight")
                    ? model.floats(block + "shared_expert_gate.weight")
                    : null;
            for (int t = 0; t < x.length; t++) {
              double[] y = MoeReference.expert(s, x[t]);
              double scale = 1;
              if (sg != null) {
                double z = 0;
                for (int c = 0; c < d; c++) {
                  z += (double) sg[c] * x[t][c];
                }
                scale = 1 / (1 + Math.exp(-z));
              }
              for (int c = 0; c < d; c++) {
                shared[t][c] = (float) (scale * y[c]);
              }
            }
          }
        }
        compare(
            "model " + dir.getFileName() + " layer " + layer, weights, x, routing, shared, want);
      }
    }
  }

  /** Runs the routed experts on the backend in every variant and dtype and records each result. */
  private void compare(
      String name,
      ExpertWeights[] weights,
      float[][] x,
      MoeReference.Routing routing,
      float[][] shared,
      float[][] want)
      throws IOException, TensorCheckException {
    float[][] reference = Rows.add(MoeReference.routed(weights, x, routing), shared);
    double referenceError = Rows.maxRelative(reference, want);
    BackendExpert[] loaded = new BackendExpert[weights.length];
    try {
      for (int e = 0; e < weights.length; e++) {
        loaded[e] = backend.load(weights[e]);
      }
      List<BackendWork> work = Rows.work(routing, loaded);
      for (Variant v : variants) {
        for (DType dtype : List.of(DType.FLOAT32, DType.BFLOAT16)) {
          Tensor in = Rows.encode(x, dtype);
          Tensor result =
              v.policy() == null
                  ? backend.compute(in, work)
                  : ((CudaBackend) backend).computeTimed(in, work, v.policy()).result();
          float[][] got = Rows.add(Rows.decode(result), shared);
          double err = Rows.maxRelative(got, want);
          double fro = Rows.froRelative(got, want);
          double vsReference = Rows.maxRelative(got, reference);
          boolean pass = result.getDtype() == dtype && err <= TOLERANCE && vsReference <= TOLERANCE;
          if (!pass) {
            failed++;
          }
          ObjectNode c = cases.addObject();
          c.put("case", name);
          c.put("path", v.name());
          c.put("wire_dtype", dtype.name());
          c.put("tokens", x.length);
          c.put("max_rel_err", err);
          c.put("fro_rel_err", fro);
          c.put("max_rel_err_vs_java_reference", vsReference);
          c.put("java_reference_max_rel_err", referenceError);
          c.put("pass", pass);
          System.out.printf(
              Locale.ROOT,
              "  %-36s %-8s %-8s max rel err %.2e (java ref %.2e)  %s%n",
              name,
              v.name(),
              dtype == DType.BFLOAT16 ? "bf16" : "f32",
              err,
              referenceError,
              pass ? "PASS" : "FAIL");
        }
      }
    } finally {
      for (BackendExpert e : loaded) {
        if (e != null) {
          backend.unload(e);
        }
      }
    }
  }
}
