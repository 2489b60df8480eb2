package io.arrakis.expert.gpucheck;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.arrakis.model.kernel.backend.BackendExpert;
import io.arrakis.model.kernel.backend.BackendWork;
import io.arrakis.model.kernel.cuda.CudaBackend;
import io.arrakis.model.kernel.cuda.CudaOptions;
import io.arrakis.model.kernel.cuda.CudaSynthetic;
import io.arrakis.model.tensor.Bf16;
import io.arrakis.model.tensor.TensorCheckException;
import io.arrakis.proto.v1.DType;
import io.arrakis.proto.v1.Tensor;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import java.util.stream.IntStream;

/**
 * One MoE layer's routed experts at real sizes on the GPU, against PyTorch's figures for the same
 * shapes: synthetic bf16 weights made on the device, tokens drawn N(0, 1) and sent as bf16, each
 * token routed to k distinct experts drawn uniformly (what a softmax gate with random weights does
 * on random inputs) with random weights summing to 1.
 *
 * <p>Per (shape, T, path): the median over repetitions of the device time from rows-on-device to
 * partial-sums-on-device (CUDA events; comparable to PyTorch's CUDA-event timing with x already on
 * the device), and of the whole call's wall time (host planning, pinned copies and both transfers
 * included). Paths: {@code auto} (the backend's defaults), {@code cublas} (every expert as cuBLAS
 * GEMMs, over the default lanes), {@code cublas-4-lanes}, {@code grouped} (every expert in the
 * grouped kernels; up to T = 1024, 4096 for small experts) and {@code split} (large experts with
 * few rows alternately grouped and cuBLAS; up to T = 2048).
 */
final class LayerThroughput {
  record Shape(String name, int d, int ff, int experts, int k) {
    long expertBytes() {
      return 3L * d * ff * 2;
    }
  }

  static final List<Shape> SHAPES =
      List.of(
          new Shape("mixtral-8x7b-layer", 4096, 14336, 8, 2),
          new Shape("deepseek-v3-layer", 7168, 2048, 256, 8),
          new Shape("qwen3-30b-a3b-layer", 2048, 768, 128, 8));
  static final int[] TOKENS = {1, 16, 64, 256, 1024, 4096, 16384};

  private static final JsonNodeFactory JSON = JsonNodeFactory.instance;

  private final CudaBackend backend;
  private final JsonNode torch;
  private final Consumer<ArrayNode> progress;

  LayerThroughput(CudaBackend backend, JsonNode torch, Consumer<ArrayNode> progress) {
    this.backend = backend;
    this.torch = torch;
    this.progress = progress;
  }

  ArrayNode run(List<Shape> shapes, int[] tokens, int maxReps, double maxSeconds)
      throws IOException {
    ArrayNode rows = JSON.arrayNode();
    for (Shape shape : shapes) {
      BackendExpert[] experts = new BackendExpert[shape.experts()];
      try {
        for (int e = 0; e < experts.length; e++) {
          experts[e] = backend.loadSynthetic(shape.d(), shape.ff(), e);
        }
        for (int t : tokens) {
          try {
            measure(rows, shape, experts, t, maxReps, maxSeconds);
          } catch (RuntimeException | TensorCheckException e) {
            ObjectNode r = rows.addObject();
            r.put("shape", shape.name());
            r.put("T", t);
            r.put("error", String.valueOf(e));
            System.out.println("  " + shape.name() + " T=" + t + " failed: " + e);
          }
          progress.accept(rows);
        }
      } finally {
        for (BackendExpert e : experts) {
          if (e != null) {
            backend.unload(e);
          }
        }
      }
    }
    return rows;
  }

  private void measure(
      ArrayNode rows,
      Shape shape,
      BackendExpert[] experts,
      int tokens,
      int maxReps,
      double maxSeconds)
      throws TensorCheckException {
    SplittableRandom random = new SplittableRandom(1000L * tokens + shape.d());
    float[][] x = new float[tokens][shape.d()];
    for (float[] row : x) {
      for (int c = 0; c < row.length; c++) {
        row[c] = (float) gaussian(random);
      }
    }
    MoeReference.Routing routing = uniformRouting(random, tokens, shape.experts(), shape.k());
    Tensor hidden = Rows.encode(x, DType.BFLOAT16);
    List<BackendWork> work = Rows.work(routing, experts);
    int touched = work.size();
    int maxRows = work.stream().mapToInt(w -> w.rows().length).max().orElse(0);
    List<String> paths = new ArrayList<>(List.of("auto", "cublas", "cublas-4-lanes"));
    if (tokens <= 1024
        || (tokens <= 4096 && shape.expertBytes() <= backend.options().groupedMaxExpertBytes())) {
      paths.add("grouped");
    }
    if (tokens <= 2048 && shape.expertBytes() > backend.options().groupedMaxExpertBytes()) {
      paths.add("split");
    }
    float[][] auto = null;
    for (String path : paths) {
      CudaOptions policy =
          switch (path) {
            case "cublas" -> backend.options().allCublas();
            case "cublas-4-lanes" -> backend.options().allCublas().withLanes(4);
            case "grouped" -> backend.options().allGrouped();
            case "split" -> backend.options().withSplitLarge(true);
            default -> backend.options();
          };
      // warm-up: buffers grown, cuBLAS heuristics cached, and at least 0.3 s of work so that the
      // GPU's
      // clocks have risen after the pause in which this point's inputs were made
      Tensor first = backend.computeTimed(hidden, work, policy).result();
      long warm = System.nanoTime();
      for (int i = 0; i < 2 || System.nanoTime() - warm < 300_000_000L; i++) {
        backend.computeTimed(hidden, work, policy);
      }
      List<CudaBackend.Timed> runs = new ArrayList<>();
      long start = System.nanoTime();
      while (runs.size() < maxReps
          && (runs.size() < 3 || (System.nanoTime() - start) / 1e9 < maxSeconds)) {
        runs.add(backend.computeTimed(hidden, work, policy).withoutResult());
      }
      float[][] got = Rows.decode(first);
      ObjectNode r = rows.addObject();
      r.put("shape", shape.name());
      r.put("T", tokens);
      r.put("path", path);
      r.put("experts_touched", touched);
      r.put("max_rows_per_expert", maxRows);
      double compute = median(runs.stream().mapToDouble(CudaBackend.Timed::computeMs).toArray());
      double wall = median(runs.stream().mapToDouble(CudaBackend.Timed::wallMs).toArray());
      r.put("device_ms", compute);
      r.put("tokens_per_s", tokens / (compute / 1e3));
      r.put("weight_read_GBps", touched * shape.expertBytes() / (compute / 1e3) / 1e9);
      r.put("copy_in_ms", median(runs.stream().mapToDouble(CudaBackend.Timed::copyInMs).toArray()));
      r.put(
          "copy_out_ms", median(runs.stream().mapToDouble(CudaBackend.Timed::copyOutMs).toArray()));
      r.put("wall_ms", wall);
      r.put("wall_tokens_per_s", tokens / (wall / 1e3));
      r.put(
          "host_stage_ms",
          median(runs.stream().mapToDouble(CudaBackend.Timed::hostStageMs).toArray()));
      r.put(
          "host_enqueue_ms",
          median(runs.stream().mapToDouble(CudaBackend.Timed::hostEnqueueMs).toArray()));
      r.put(
          "host_wait_ms",
          median(runs.stream().mapToDouble(CudaBackend.Timed::hostWaitMs).toArray()));
      r.put(
          "host_answer_ms",
          median(runs.stream().mapToDouble(CudaBackend.Timed::hostAnswerMs).toArray()));
      r.put("reps", runs.size());
      double torchBest = torchBest(shape.name(), tokens);
      if (torchBest > 0) {
        r.put("torch_best_tokens_per_s", torchBest);
        r.put("ratio_vs_torch", tokens / (compute / 1e3) / torchBest);
      }
      if (auto == null) {
        auto = got;
      } else {
        r.put("max_rel_diff_vs_auto", Rows.maxRelative(got, auto));
      }
      if (path.equals("auto") && tokens == 1) {
        float[][] want = syntheticReference(shape, x, routing, 1);
        double err = Rows.maxRelative(new float[][] {got[0]}, want);
        r.put("max_rel_err_vs_java_reference", err);
        r.put("reference_pass", err <= CorrectnessCheck.TOLERANCE);
      }
      System.out.printf(
          Locale.ROOT,
          "  %-20s T=%-6d %-8s %9.3f ms device %12.0f tok/s  (wall %8.3f ms)%s%n",
          shape.name(),
          tokens,
          path,
          compute,
          tokens / (compute / 1e3),
          wall,
          torchBest > 0
              ? String.format(Locale.ROOT, "  %.2fx torch", tokens / (compute / 1e3) / torchBest)
              : "");
    }
  }

  private double torchBest(String shape, int tokens) {
    if (torch == null) {
      return 0;
    }
    for (JsonNode r : torch.path("results")) {
      if (r.path("shape").asText().equals(shape) && r.path("T").asInt() == tokens) {
        return Math.max(
            r.path("loop").path("tokens_per_s").asDouble(0),
            r.path("grouped").path("tokens_per_s").asDouble(0));
      }
    }
    return 0;
  }

  static MoeReference.Routing uniformRouting(
      SplittableRandom random, int tokens, int experts, int k) {
    int[][] ids = new int[tokens][];
    float[][] weights = new float[tokens][k];
    int[] pool = IntStream.range(0, experts).toArray();
    for (int t = 0; t < tokens; t++) {
      for (int j = 0; j < k; j++) { // partial Fisher-Yates: k distinct experts
        int pick = j + random.nextInt(experts - j);
        int tmp = pool[j];
        pool[j] = pool[pick];
        pool[pick] = tmp;
      }
      ids[t] = Arrays.copyOf(pool, k);
      double sum = 0;
      for (int j = 0; j < k; j++) {
        weights[t][j] = (float) (0.1 + random.nextDouble());
        sum += weights[t][j];
      }
      for (int j = 0; j < k; j++) {
        weights[t][j] /= (float) sum;
      }
    }
    return new MoeReference.Routing(ids, weights);
  }

  /**
   * The first {@code count} tokens' outputs from the synthetic weights, recomputed here in double.
   */
  static float[][] syntheticReference(
      Shape shape, float[][] x, MoeReference.Routing routing, int count) {
    int d = shape.d();
    int ff = shape.ff();
    float[][] out = new float[count][];
    for (int t = 0; t < count; t++) {
      float[] xt = new float[d];
      for (int c = 0; c < d; c++) {
        xt[c] = Bf16.round(x[t][c]); // the rows travel as bf16
      }
      double[] acc = new double[d];
      for (int j = 0; j < routing.ids()[t].length; j++) {
        long seed = routing.ids()[t][j];
        double[] h =
            IntStream.range(0, ff)
                .parallel()
                .mapToDouble(
                    f -> {
                      double g = 0;
                      double u = 0;
                      for (int i = 0; i < d; i++) {
                        g += CudaSynthetic.w13(seed, d, (long) f * d + i) * (double) xt[i];
                        u += CudaSynthetic.w13(seed, d, (long) (ff + f) * d + i) * (double) xt[i];
                      }
                      return g / (1 + Math.exp(-g)) * u;
                    })
                .toArray();
        double[] y =
            IntStream.range(0, d)
                .parallel()
                .mapToDouble(
                    c -> {
                      double s = 0;
                      for (int f = 0; f < ff; f++) {
                        s += CudaSynthetic.w2(seed, ff, (long) c * ff + f) * h[f];
                      }
                      return s;
                    })
                .toArray();
        for (int c = 0; c < d; c++) {
          acc[c] += routing.weights()[t][j] * y[c];
        }
      }
      out[t] = MoeReference.toFloat(acc);
    }
    return out;
  }

  private static double gaussian(SplittableRandom r) {
    double u = Math.max(1e-12, r.nextDouble());
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r.nextDouble());
  }

  static double median(double[] v) {
    double[] s = v.clone();
    Arrays.sort(s);
    return s[s.length / 2];
  }
}
