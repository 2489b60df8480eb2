package io.arrakis.expert.gpucheck;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.arrakis.expert.cli.ExpertNodeMain;
import io.arrakis.model.config.ModelConfig;
import io.arrakis.model.moe.TensorNames;
import io.arrakis.model.safetensors.SafetensorsWriter;
import io.arrakis.model.safetensors.StDType;
import io.arrakis.proto.v1.Assignment;
import io.arrakis.proto.v1.ComputeRequest;
import io.arrakis.proto.v1.ComputeResponse;
import io.arrakis.proto.v1.DType;
import io.arrakis.proto.v1.DescribeRequest;
import io.arrakis.proto.v1.ExpertGrpc;
import io.arrakis.proto.v1.NodeDescription;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.HttpURLConnection;
import java.net.ServerSocket;
import java.net.URL;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.IntStream;

/**
 * An expert node process on the GPU serving {@code Compute} over loopback gRPC to a load generator
 * in this process: a synthetic model of one Mixtral-8x7B layer (bf16 safetensors written here), the
 * node started from this bundle with {@code --device cuda}, then several channels keeping calls of
 * T rows (bf16, top-2 routing) in flight for a fixed time. Tokens per second against the kernel
 * alone are compared by the caller.
 */
final class GrpcThroughput {
  private static final JsonNodeFactory JSON = JsonNodeFactory.instance;

  private final Path work;
  private final int hidden;
  private final int ffn;
  private final int experts;
  private final int topK;

  GrpcThroughput(Path work, int hidden, int ffn, int experts, int topK) {
    this.work = work;
    this.hidden = hidden;
    this.ffn = ffn;
    this.experts = experts;
    this.topK = topK;
  }

  ObjectNode run(
      int tokens,
      int computeThreads,
      int channels,
      int inFlightPerChannel,
      double warmupSeconds,
      double seconds,
      List<String> nodeJvmFlags)
      throws Exception {
    ObjectNode out = JSON.objectNode();
    Path model = work.resolve("model");
    if (!Files.exists(model.resolve("model.safetensors"))) {
      long t0 = System.nanoTime();
      writeModel(model);
      out.put("model_write_s", (System.nanoTime() - t0) / 1e9);
    }
    out.put("node_jvm_flags", String.join(" ", nodeJvmFlags));
    int metricsPort;
    try (ServerSocket s = new ServerSocket(0)) {
      metricsPort = s.getLocalPort();
    }
    Path portFile = work.resolve("node.port");
    Files.deleteIfExists(portFile);
    Path log = work.resolve("node.log");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    // a fixed heap touched at start: on a VM whose memory is backed on first touch, a fresh 8 MB
    // array per call would otherwise cost page faults (the kernel section saw ~1 ms per MB)
    List<String> cmd = new ArrayList<>(List.of(java, "-Xms8g", "-Xmx8g", "-XX:+AlwaysPreTouch"));
    cmd.addAll(nodeJvmFlags);
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path")));
    String cache = System.getProperty("org.bytedeco.javacpp.cachedir");
    if (cache != null) {
      cmd.add("-Dorg.bytedeco.javacpp.cachedir=" + cache);
    }
    cmd.addAll(
        List.of(
            ExpertNodeMain.class.getName(),
            "--model",
            model.toString(),
            "--experts",
            "all",
            "--port",
            "0",
            "--port-file",
            portFile.toString(),
            "--device",
            "cuda",
            "--threads",
            Integer.toString(computeThreads),
            "--node-id",
            "gpu-check",
            "--metrics-port",
            Integer.toString(metricsPort)));
    ProcessBuilder pb =
        new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().put("ARRAKIS_MAX_BATCH_TOKENS", Integer.toString(Math.max(8192, tokens)));
    long started = System.nanoTime();
    Process node = pb.start();
    try {
      while (!Files.exists(portFile)) {
        if (!node.isAlive()) {
          throw new IllegalStateException(
              "the expert node exited with " + node.exitValue() + ": " + tail(log));
        }
        if (System.nanoTime() - started > TimeUnit.SECONDS.toNanos(180)) {
          throw new IllegalStateException(
              "the expert node did not serve within 180 s: " + tail(log));
        }
        Thread.sleep(100);
      }
      out.put("node_start_s", (System.nanoTime() - started) / 1e9);
      int port = Integer.parseInt(Files.readString(portFile).trim());
      List<ManagedChannel> open = new ArrayList<>();
      try {
        for (int c = 0; c < channels; c++) {
          open.add(
              NettyChannelBuilder.forAddress("127.0.0.1", port)
                  .usePlaintext()
                  .maxInboundMessageSize(256 << 20)
                  .build());
        }
        NodeDescription desc =
            ExpertGrpc.newBlockingStub(open.get(0))
                .withDeadlineAfter(10, TimeUnit.SECONDS)
                .describe(DescribeRequest.getDefaultInstance());
        out.put("node_device", desc.getDevice());
        out.put("node_compute_dtype", desc.getComputeDtype().name());
        out.put("node_max_request_bytes", desc.getMaxRequestBytes());
        ComputeRequest request = request(tokens);
        out.put("request_bytes", request.getSerializedSize());
        Load load = new Load(open, request, inFlightPerChannel);
        load.start();
        Thread.sleep((long) (warmupSeconds * 1000));
        long tokensBefore = load.tokens.get();
        long callsBefore = load.calls.get();
        long m0 = System.nanoTime();
        Thread.sleep((long) (seconds * 1000));
        long tokensAfter = load.tokens.get();
        long callsAfter = load.calls.get();
        double elapsed = (System.nanoTime() - m0) / 1e9;
        load.stop();
        out.set("node_metrics", nodeMetrics(metricsPort));
        if (load.error.get() != null) {
          out.put("error", String.valueOf(load.error.get()));
        }
        out.put("tokens", tokens);
        out.put("compute_threads", computeThreads);
        out.put("channels", channels);
        out.put("in_flight", channels * inFlightPerChannel);
        out.put("seconds", elapsed);
        out.put("calls", callsAfter - callsBefore);
        out.put("tokens_per_s", (tokensAfter - tokensBefore) / elapsed);
        System.out.printf(
            Locale.ROOT,
            "  expert node over gRPC: %.0f tokens/s (%d calls of %d rows in %.1f s, %d in flight)%n",
            (tokensAfter - tokensBefore) / elapsed,
            callsAfter - callsBefore,
            tokens,
            elapsed,
            channels * inFlightPerChannel);
      } finally {
        for (ManagedChannel c : open) {
          c.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
      }
    } finally {
      node.destroy();
      if (!node.waitFor(30, TimeUnit.SECONDS)) {
        node.destroyForcibly();
      }
      out.put("node_log_tail", tail(log));
    }
    return out;
  }

  /**
   * The node's own view of the run: mean compute time per batch and mean wait for a compute thread
   * (arrakis_expert_compute, arrakis_expert_queue_wait), from its Prometheus endpoint.
   */
  private static ObjectNode nodeMetrics(int port) {
    ObjectNode m = JSON.objectNode();
    try {
      HttpURLConnection c =
          (HttpURLConnection) new URL("http://127.0.0.1:" + port + "/metrics").openConnection();
      c.setConnectTimeout(5000);
      c.setReadTimeout(5000);
      String text = new String(c.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      for (String name :
          List.of("arrakis_expert_compute_seconds", "arrakis_expert_queue_wait_seconds")) {
        double sum = value(text, name + "_sum");
        double count = value(text, name + "_count");
        m.put(name.replace("arrakis_expert_", "") + "_mean_ms", count > 0 ? sum / count * 1e3 : 0);
        m.put(name.replace("arrakis_expert_", "") + "_count", count);
      }
    } catch (IOException | RuntimeException e) {
      m.put("error", String.valueOf(e));
    }
    return m;
  }

  private static double value(String text, String metric) {
    for (String line : text.split("\n")) {
      if (line.startsWith(metric + "{") || line.startsWith(metric + " ")) {
        return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    return 0;
  }

  /** Keeps {@code perChannel} calls in flight on each channel; each answer sends the next call. */
  private static final class Load {
    final AtomicLong tokens = new AtomicLong();
    final AtomicLong calls = new AtomicLong();
    final AtomicReference<Throwable> error = new AtomicReference<>();
    private final List<ManagedChannel> channels;
    private final ComputeRequest request;
    private final int perChannel;
    private volatile boolean running = true;

    Load(List<ManagedChannel> channels, ComputeRequest request, int perChannel) {
      this.channels = channels;
      this.request = request;
      this.perChannel = perChannel;
    }

    void start() {
      for (ManagedChannel c : channels) {
        ExpertGrpc.ExpertStub stub = ExpertGrpc.newStub(c);
        for (int i = 0; i < perChannel; i++) {
          send(stub);
        }
      }
    }

    private void send(ExpertGrpc.ExpertStub stub) {
      if (!running) {
        return;
      }
      stub.withDeadlineAfter(60, TimeUnit.SECONDS)
          .compute(
              request,
              new StreamObserver<>() {
                @Override
                public void onNext(ComputeResponse value) {
                  tokens.addAndGet(value.getPartialSums().getShape(0));
                  calls.incrementAndGet();
                }

                @Override
                public void onError(Throwable t) {
                  error.compareAndSet(null, t);
                  send(stub);
                }

                @Override
                public void onCompleted() {
                  send(stub);
                }
              });
    }

    void stop() {
      running = false;
    }
  }

  /** One call: T rows N(0, 1) in bf16, each to topK distinct experts of layer 0. */
  private ComputeRequest request(int tokens) {
    SplittableRandom random = new SplittableRandom(7);
    float[][] x = new float[tokens][hidden];
    for (float[] row : x) {
      for (int c = 0; c < hidden; c++) {
        row[c] = (float) (random.nextDouble() * 2 - 1);
      }
    }
    MoeReference.Routing routing = LayerThroughput.uniformRouting(random, tokens, experts, topK);
    ComputeRequest.Builder b =
        ComputeRequest.newBuilder()
            .setBatchId("gpu-check")
            .setHiddenStates(Rows.encode(x, DType.BFLOAT16));
    for (int e = 0; e < experts; e++) {
      Assignment.Builder a = Assignment.newBuilder().setLayer(0).setExpert(e);
      for (int t = 0; t < tokens; t++) {
        for (int j = 0; j < topK; j++) {
          if (routing.ids()[t][j] == e) {
            a.addRows(t).addWeights(routing.weights()[t][j]);
          }
        }
      }
      if (a.getRowsCount() > 0) {
        b.addAssignments(a);
      }
    }
    return b.build();
  }

  /** config.json and one bf16 safetensors file of small random weights: a Mixtral-style layer. */
  private void writeModel(Path dir) throws IOException {
    Files.createDirectories(dir);
    new ModelConfig(hidden, ffn, experts, topK, 1, true, "bfloat16").save(dir);
    List<SafetensorsWriter.Entry> entries = new ArrayList<>();
    entries.add(
        new SafetensorsWriter.Entry(
            TensorNames.gate(0), StDType.BF16, new long[] {experts, hidden}));
    for (int e = 0; e < experts; e++) {
      entries.add(
          new SafetensorsWriter.Entry(
              TensorNames.expert(0, e, "w1"), StDType.BF16, new long[] {ffn, hidden}));
      entries.add(
          new SafetensorsWriter.Entry(
              TensorNames.expert(0, e, "w2"), StDType.BF16, new long[] {hidden, ffn}));
      entries.add(
          new SafetensorsWriter.Entry(
              TensorNames.expert(0, e, "w3"), StDType.BF16, new long[] {ffn, hidden}));
    }
    int chunk = 1 << 24; // 16 M values, 32 MB
    try (SafetensorsWriter w =
        SafetensorsWriter.create(dir.resolve("model.safetensors"), entries, Map.of())) {
      long seed = 1;
      for (SafetensorsWriter.Entry e : entries) {
        long n = Arrays.stream(e.shape()).reduce(1, Math::multiplyExact);
        for (long at = 0; at < n; at += chunk) {
          int m = (int) Math.min(chunk, n - at);
          w.write(randomBf16(m, seed++));
        }
      }
    }
  }

  /**
   * Small random bf16 values (|v| < 2^-3), filled in parallel: 2.8 GB take seconds, not minutes.
   */
  private static ByteBuffer randomBf16(int count, long seed) {
    ByteBuffer b = ByteBuffer.allocate(count * 2).order(ByteOrder.LITTLE_ENDIAN);
    int blocks = 64;
    IntStream.range(0, blocks)
        .parallel()
        .forEach(
            k -> {
              SplittableRandom r = new SplittableRandom(seed * 1000 + k);
              int from = (int) ((long) count * k / blocks);
              int to = (int) ((long) count * (k + 1) / blocks);
              for (int i = from; i < to; i++) {
                int bits = r.nextInt();
                // sign and 7 mantissa bits random, exponent 2^-8 .. 2^-4
                int exp = 0x77 + (bits >>> 28) % 4;
                b.putShort(2 * i, (short) ((bits & 0x807F) | (exp << 7)));
              }
            });
    return b;
  }

  private static String tail(Path log) {
    try {
      List<String> lines = Files.readAllLines(log);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 15), lines.size()));
    } catch (IOException e) {
      return "(no log: " + e.getMessage() + ")";
    }
  }
}
