package io.arrakis.engine.cli;

import static org.bytedeco.openblas.global.openblas_nolapack.CblasNoTrans;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasRowMajor;
import static org.bytedeco.openblas.global.openblas_nolapack.CblasTrans;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.arrakis.engine.DecoderModel;
import io.arrakis.engine.Engine;
import io.arrakis.engine.EngineOptions;
import io.arrakis.engine.SequenceChunk;
import io.arrakis.engine.generate.Generation;
import io.arrakis.engine.generate.Generator;
import io.arrakis.engine.generate.TokenListener;
import io.arrakis.engine.sampling.SamplingParams;
import io.arrakis.engine.synthetic.WholeModelGenerator;
import io.arrakis.model.cli.CliErrors;
import io.arrakis.model.config.ArchConfig;
import io.arrakis.model.config.Family;
import io.arrakis.model.kernel.Blas;
import io.arrakis.model.kernel.PanelMatrix;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.openblas.global.openblas_nolapack;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code bench generate}: the in-process runtime's speed on a synthetic whole model, each figure
 * against a bound measured in the same run: batch-1 decode against the memory-bandwidth bound
 * (weight bytes one token touches ÷ copy bandwidth), batch-32 decode against batch 1, and a
 * 512-token prefill in GFLOP/s against OpenBLAS's GEMM rate (and, for reference, the expert
 * kernel's own rate at the same shape). The load average before and after goes with the figures.
 */
@Command(
    name = "bench generate",
    mixinStandardHelpOptions = true,
    description =
        "Measure prefill and decode speed of the in-process runtime against this machine's bounds.")
public final class BenchGenerate implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Option(
      names = "--model",
      description = "A model directory (default: a synthetic one, generated once into --work).")
  Path model;

  @Option(
      names = "--work",
      defaultValue = ".arrakis/bench-models",
      description = "Where synthetic models are kept (default: ${DEFAULT-VALUE}).")
  Path work;

  @Option(
      names = "--arch",
      defaultValue = "qwen3_moe",
      description = "Synthetic model family (default: ${DEFAULT-VALUE}).")
  String arch;

  @Option(names = "--hidden", defaultValue = "1024")
  int hidden;

  @Option(names = "--layers", defaultValue = "12")
  int layers;

  @Option(names = "--heads", defaultValue = "16")
  int heads;

  @Option(names = "--kv-heads", defaultValue = "4")
  int kvHeads;

  @Option(names = "--experts", defaultValue = "64")
  int experts;

  @Option(names = "--top-k", defaultValue = "8")
  int topK;

  @Option(names = "--expert-ffn", defaultValue = "512")
  int expertFfn;

  @Option(names = "--vocab", defaultValue = "32000")
  int vocab;

  @Option(
      names = "--prompt",
      defaultValue = "32",
      description = "Prompt tokens before decoding (default: ${DEFAULT-VALUE}).")
  int promptTokens;

  @Option(
      names = "--decode",
      defaultValue = "64",
      description = "Tokens decoded per sequence (default: ${DEFAULT-VALUE}).")
  int decodeTokens;

  @Option(
      names = "--batch",
      defaultValue = "32",
      description = "The larger decode batch (default: ${DEFAULT-VALUE}).")
  int batch;

  @Option(
      names = "--prefill",
      defaultValue = "512",
      description = "Prefill length (default: ${DEFAULT-VALUE}).")
  int prefill;

  @Option(
      names = "--out",
      defaultValue = "bench/results/generate.json",
      description = "Results file (default: ${DEFAULT-VALUE}).")
  Path out;

  @Option(
      names = "--threads",
      defaultValue = "1",
      description =
          "BLAS threads, also the threads of the copy-bandwidth measurement (default: ${DEFAULT-VALUE}).")
  int threads;

  public static void main(String[] args) {
    CommandLine cli = new CommandLine(new BenchGenerate());
    cli.setExecutionExceptionHandler(
        (e, cmd, parsed) -> {
          cmd.getErr().println("error: " + CliErrors.oneLine(e));
          return 1;
        });
    System.exit(cli.execute(args));
  }

  @Override
  public Integer call() throws Exception {
    Path dir = model != null ? model : syntheticModel();
    String loadBefore = loadAverage();
    Blas.threads(threads);
    long t0 = System.nanoTime();
    try (Engine engine = Engine.load(dir, EngineOptions.DEFAULT.withKvCacheBytes(1L << 30))) {
      ArchConfig c = engine.config();
      System.err.printf(
          "loaded %s in %.1f s: %s, kernel %s, BLAS %s, %d BLAS threads%n",
          dir,
          (System.nanoTime() - t0) / 1e9,
          c.family(),
          PanelMatrix.kernel(),
          Blas.describe(),
          Blas.threads());
      long tokenBytes = touchedBytesPerToken(engine);
      double copyGbs = copyBandwidth(threads);
      double gemmGflops = gemmRate();
      double panelGflops = panelRate();
      SplittableRandom random = new SplittableRandom(1);
      SamplingParams greedy = SamplingParams.greedy(decodeTokens, Set.of()).withIgnoreEos(true);
      Generator gen = new Generator(engine, 0);
      System.err.println("warming up ...");
      gen.generate(randomIds(random, promptTokens, c.vocabSize()), greedy, TokenListener.NONE);
      gen.generateAll(
          prompts(random, 4, c.vocabSize()), greedy, Collections.nCopies(4, TokenListener.NONE));
      prefillSeconds(engine, randomIds(random, prefill, c.vocabSize()));

      Generation one =
          gen.generate(randomIds(random, promptTokens, c.vocabSize()), greedy, TokenListener.NONE);
      double decode1 = one.decodeTokensPerSecond();
      List<Generation> many =
          gen.generateAll(
              prompts(random, batch, c.vocabSize()),
              greedy,
              Collections.nCopies(batch, TokenListener.NONE));
      long decodeNanos = many.stream().mapToLong(Generation::decodeNanos).max().orElseThrow();
      long decoded = many.stream().mapToLong(g -> g.tokens().length - 1).sum();
      double decodeBatch = decoded / (decodeNanos / 1e9);
      double prefillS = Double.MAX_VALUE;
      for (int i = 0; i < 3; i++) {
        prefillS =
            Math.min(prefillS, prefillSeconds(engine, randomIds(random, prefill, c.vocabSize())));
      }
      double prefillFlops = prefillFlops(engine, prefill);
      // the bounds are the best this machine showed in the run: measured again after the
      // measurements, since other programs on a shared machine may have slowed either pass
      copyGbs = Math.max(copyGbs, copyBandwidth(threads));
      gemmGflops = Math.max(gemmGflops, gemmRate());
      panelGflops = Math.max(panelGflops, panelRate());

      double bound = copyGbs * 1e9 / tokenBytes;
      ObjectNode r = JSON.createObjectNode();
      r.put("when", Instant.now().toString());
      r.put(
          "model",
          String.format(
              "%s hidden %d, %d layers, %d experts top-%d, expert ffn %d, vocab %d",
              c.family(),
              c.hiddenSize(),
              c.numLayers(),
              c.moe().experts(),
              c.moe().topK(),
              c.moe().expertIntermediateSize(),
              c.vocabSize()));
      r.put("parameters", parameters(engine));
      r.put("load_average_before", loadBefore);
      r.put("load_average_after", loadAverage());
      r.put("kernel", PanelMatrix.kernel());
      r.put("compute_threads", 1);
      r.put("blas", Blas.describe());
      r.put("blas_threads", Blas.threads());
      r.put("bytes_touched_per_token", tokenBytes);
      r.put("copy_bandwidth_gb_s", round(copyGbs));
      r.put("decode_bound_tokens_s", round(bound));
      r.put("decode_batch1_tokens_s", round(decode1));
      r.put("decode_batch1_vs_bound", round(decode1 / bound));
      r.put("decode_batch" + batch + "_tokens_s", round(decodeBatch));
      r.put("decode_batch" + batch + "_vs_batch1", round(decodeBatch / decode1));
      r.put("prefill_tokens", prefill);
      r.put("prefill_seconds", round(prefillS));
      r.put("prefill_tokens_s", round(prefill / prefillS));
      r.put("prefill_gflop_s", round(prefillFlops / prefillS / 1e9));
      r.put("gemm_gflop_s", round(gemmGflops));
      r.put("prefill_vs_gemm", round(prefillFlops / prefillS / 1e9 / gemmGflops));
      r.put("panel_gflop_s", round(panelGflops));
      r.put("prefill_vs_panel", round(prefillFlops / prefillS / 1e9 / panelGflops));
      String text = JSON.writerWithDefaultPrettyPrinter().writeValueAsString(r);
      System.out.println(text);
      if (out.getParent() != null) {
        Files.createDirectories(out.getParent());
      }
      Files.writeString(out, text + "\n");
      System.err.println("wrote " + out);
    }
    return 0;
  }

  private Path syntheticModel() throws Exception {
    Family family = Family.of(arch);
    WholeModelGenerator.Shape shape =
        WholeModelGenerator.Shape.of(family)
            .layers(layers)
            .hidden(hidden)
            .attention(heads, kvHeads, 0)
            .experts(experts, topK, expertFfn)
            .ffn(4 * expertFfn, family == Family.DEEPSEEK_V3 ? expertFfn : 4 * expertFfn)
            .vocab(vocab)
            .bf16(true);
    Path dir =
        work.resolve(
            String.format(
                "%s-h%d-l%d-e%dk%d-f%d-v%d",
                arch, hidden, layers, experts, topK, expertFfn, vocab));
    String want = WholeModelGenerator.config(shape).toString();
    if (Files.exists(dir.resolve("model.safetensors"))
        && Files.exists(dir.resolve("config.json"))
        && JSON.readTree(dir.resolve("config.json").toFile()).equals(JSON.readTree(want))) {
      return dir;
    }
    System.err.println("generating " + dir + " (once) ...");
    WholeModelGenerator.generate(dir, shape);
    return dir;
  }

  private static List<int[]> prompts(SplittableRandom random, int n, int vocab) {
    List<int[]> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(randomIds(random, 32, vocab));
    }
    return out;
  }

  private static int[] randomIds(SplittableRandom random, int n, int vocab) {
    int[] ids = new int[n];
    for (int i = 0; i < n; i++) {
      ids[i] = random.nextInt(vocab);
    }
    return ids;
  }

  private static double prefillSeconds(Engine engine, int[] ids) {
    long start = System.nanoTime();
    engine.step(List.of(SequenceChunk.of(-42, ids)));
    long end = System.nanoTime();
    engine.release(-42);
    return (end - start) / 1e9;
  }

  /**
   * Float32 weight bytes one decode token reads: all but the routed experts and the embedding, one
   * embedding row, top-k experts per MoE layer.
   */
  static long touchedBytesPerToken(Engine engine) {
    DecoderModel m = engine.model();
    ArchConfig c = engine.config();
    long bytes =
        m.weightBytes() - (m.lmHead() == m.embed() ? 0 : m.embed().bytes()) + 4L * c.hiddenSize();
    long moeLayers = c.moeLayers().stream().filter(b -> b).count();
    long expert = expertBytes(engine);
    return bytes + moeLayers * c.moe().topK() * expert;
  }

  private static long expertBytes(Engine engine) {
    ArchConfig c = engine.config();
    return 3L * c.hiddenSize() * c.moe().expertIntermediateSize() * Float.BYTES;
  }

  private static long parameters(Engine engine) {
    ArchConfig c = engine.config();
    long moeLayers = c.moeLayers().stream().filter(b -> b).count();
    return engine.model().weightBytes() / 4
        + moeLayers * c.moe().experts() * expertBytes(engine) / 4;
  }

  /**
   * Multiply-adds ×2 of a prefill: the projections of every token, top-k experts, causal attention,
   * one LM-head row.
   */
  private static double prefillFlops(Engine engine, int tokens) {
    DecoderModel m = engine.model();
    ArchConfig c = engine.config();
    long perToken = touchedBytesPerToken(engine) / 4 - c.hiddenSize() - m.lmHead().bytes() / 4;
    double flops = 2.0 * perToken * tokens + 2.0 * m.lmHead().bytes() / 4;
    ArchConfig.Attention a = c.attention();
    double qk = a.mla() == null ? a.headDim() : a.mla().kvLoraRank() + a.mla().qkRopeHeadDim();
    double v = a.mla() == null ? a.headDim() : a.mla().kvLoraRank();
    double pairs = tokens * (tokens + 1) / 2.0;
    flops += c.numLayers() * a.heads() * 2.0 * (qk + v) * pairs;
    return flops;
  }

  /**
   * STREAM-style copy bandwidth, (bytes read + bytes written) / time, best of 5 copies of 512 MiB
   * split over {@code threads} threads.
   */
  private static double copyBandwidth(int threads) throws InterruptedException {
    long bytes = 512L << 20;
    long part = bytes / threads;
    try (BytePointer a = new BytePointer(bytes);
        BytePointer b = new BytePointer(bytes)) {
      Pointer.memset(a, 1, bytes);
      Pointer.memset(b, 2, bytes);
      double best = Double.MAX_VALUE;
      for (int i = 0; i < 5; i++) {
        List<Thread> workers = new ArrayList<>();
        long start = System.nanoTime();
        for (int t = 0; t < threads; t++) {
          long at = t * part;
          workers.add(
              start(
                  () ->
                      Pointer.memcpy(
                          new BytePointer(b).position(at), new BytePointer(a).position(at), part)));
        }
        for (Thread w : workers) {
          w.join();
        }
        best = Math.min(best, (System.nanoTime() - start) / 1e9);
      }
      return 2.0 * part * threads / best / 1e9;
    }
  }

  /** sgemm rate, best of 5, at the shape of a 512-token projection (512 × 1024 · 1024 × 2048). */
  private static double gemmRate() {
    int m = 512;
    int k = 1024;
    int n = 2048;
    try (FloatPointer a = new FloatPointer((long) m * k);
        FloatPointer b = new FloatPointer((long) n * k);
        FloatPointer c = new FloatPointer((long) m * n)) {
      float[] fill = new float[n * k];
      SplittableRandom r = new SplittableRandom(3);
      for (int i = 0; i < fill.length; i++) {
        fill[i] = (float) r.nextDouble(-1, 1);
      }
      a.put(fill, 0, m * k);
      b.put(fill, 0, n * k);
      double best = Double.MAX_VALUE;
      for (int i = 0; i < 6; i++) {
        long start = System.nanoTime();
        openblas_nolapack.cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1f, a, k, b, k, 0f, c, n);
        best = Math.min(best, (System.nanoTime() - start) / 1e9);
      }
      return 2.0 * m * n * k / best / 1e9;
    }
  }

  /**
   * The expert kernel's rate, best of 5, at the same shape as {@link #gemmRate} (a [2048, 1024]
   * weight matrix, 512 rows), the kernel prefill now runs on.
   */
  private static double panelRate() {
    int m = 512;
    int k = 1024;
    int n = 2048;
    float[] w = new float[n * k];
    SplittableRandom r = new SplittableRandom(3);
    for (int i = 0; i < w.length; i++) {
      w[i] = (float) r.nextDouble(-1, 1);
    }
    PanelMatrix b = PanelMatrix.fromOutIn(w, n, k);
    float[] a = Arrays.copyOf(w, m * k);
    float[] c = new float[m * n];
    double best = Double.MAX_VALUE;
    for (int i = 0; i < 6; i++) {
      long start = System.nanoTime();
      b.multiply(a, 0, k, m, c, 0, n);
      best = Math.min(best, (System.nanoTime() - start) / 1e9);
    }
    return 2.0 * m * n * k / best / 1e9;
  }

  /** /proc/loadavg's first three fields (1, 5 and 15 minutes), or "unknown" off Linux. */
  private static String loadAverage() {
    try {
      String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
      return f[0] + " " + f[1] + " " + f[2];
    } catch (IOException | RuntimeException e) {
      return "unknown";
    }
  }

  private static Thread start(Runnable r) {
    Thread t = new Thread(r, "copy");
    t.start();
    return t;
  }

  private static double round(double v) {
    return Math.round(v * 1000) / 1000.0;
  }
}
