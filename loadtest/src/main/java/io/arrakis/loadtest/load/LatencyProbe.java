package io.arrakis.loadtest.load;

import com.google.common.util.concurrent.ListenableFuture;
import io.arrakis.model.gating.Gate;
import io.arrakis.model.gating.Routing;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.proto.v1.Assignment;
import io.arrakis.proto.v1.ComputeRequest;
import io.arrakis.proto.v1.ComputeResponse;
import io.arrakis.proto.v1.ExpertGrpc;
import io.arrakis.proto.v1.ForwardRequest;
import io.arrakis.proto.v1.InferenceGrpc;
import io.arrakis.proto.v1.Tensor;
import io.grpc.ManagedChannel;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.HdrHistogram.Histogram;
import org.nd4j.linalg.factory.Nd4j;

/**
 * What the router adds to a call's latency: the same one-at-a-time calls through the router, and
 * straight to the expert nodes the router would call for them (each node's share sent in parallel,
 * as the router fans out), alternating which goes first. The difference of the medians is the
 * router's part: decoding, gating, planning, actor hops, combining, and the extra network hop (a
 * health check of the router, timed alongside, is that hop alone).
 */
public final class LatencyProbe {
  private static final long DEADLINE_MS = 10_000;

  /**
   * Latencies in microseconds of the calls through the router, of the direct fan-outs, and of a
   * health check of the router: a bare gRPC round trip to it, the floor of what it can add.
   */
  public record Result(
      Histogram viaRouterMicros, Histogram directMicros, Histogram healthMicros, int tokens) {
    public double viaRouterP50Ms() {
      return viaRouterMicros.getValueAtPercentile(50) / 1000.0;
    }

    public double directP50Ms() {
      return directMicros.getValueAtPercentile(50) / 1000.0;
    }

    public double routerAddedP50Ms() {
      return viaRouterP50Ms() - directP50Ms();
    }

    public double roundTripP50Ms() {
      return healthMicros.getValueAtPercentile(50) / 1000.0;
    }
  }

  private final String router;
  private final Map<ExpertId, String> nodeOf;
  private final Gate gate;
  private final int layer;
  private final InputSampler sampler;

  /**
   * @param router the router's host:port (plaintext)
   * @param nodeOf for every expert of {@code layer}, the address of one node holding it
   */
  public LatencyProbe(
      String router,
      Map<ExpertId, String> nodeOf,
      Gate gate,
      int layer,
      float[] inputBias,
      long seed) {
    this.router = router;
    this.nodeOf = Map.copyOf(nodeOf);
    this.gate = gate;
    this.layer = layer;
    this.sampler = new InputSampler(gate.hiddenSize(), inputBias, seed);
  }

  /** {@code warmup} unrecorded rounds, then {@code calls} recorded ones, each a call both ways. */
  public Result run(int tokens, int warmup, int calls) throws InterruptedException {
    Map<String, ManagedChannel> channels = new LinkedHashMap<>();
    channels.put(router, NettyChannelBuilder.forTarget(router).usePlaintext().build());
    nodeOf
        .values()
        .forEach(
            a ->
                channels.computeIfAbsent(
                    a, t -> NettyChannelBuilder.forTarget(t).usePlaintext().build()));
    try {
      Histogram via = new Histogram(3);
      Histogram direct = new Histogram(3);
      Histogram health = new Histogram(3);
      for (int i = 0; i < warmup + calls; i++) {
        float[] x = sampler.sample(tokens);
        Tensor hidden = TensorCodec.encodeFloat(x, tokens, gate.hiddenSize());
        Map<String, ComputeRequest> shares = shares(x, tokens, hidden, i);
        long viaMicros;
        long directMicros;
        if (i % 2 == 0) {
          viaMicros = viaRouter(channels.get(router), hidden, i);
          directMicros = direct(channels, shares);
        } else {
          directMicros = direct(channels, shares);
          viaMicros = viaRouter(channels.get(router), hidden, i);
        }
        long healthMicros = health(channels.get(router));
        if (i >= warmup) {
          via.recordValue(viaMicros);
          direct.recordValue(directMicros);
          health.recordValue(healthMicros);
        }
      }
      return new Result(via, direct, health, tokens);
    } finally {
      for (ManagedChannel c : channels.values()) {
        c.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  /** The node calls the router would make for {@code x}: its routing, grouped by node. */
  private Map<String, ComputeRequest> shares(float[] x, int tokens, Tensor hidden, int call) {
    Routing routing = gate.route(Nd4j.create(x, new long[] {tokens, gate.hiddenSize()}, 'c'));
    Map<String, Map<Integer, Assignment.Builder>> byNode = new LinkedHashMap<>();
    for (int t = 0; t < tokens; t++) {
      for (int r = 0; r < routing.k(); r++) {
        int expert = routing.expert(t, r);
        String node = nodeOf.get(new ExpertId(layer, expert));
        if (node == null) {
          throw new IllegalStateException("no node holds layer " + layer + " expert " + expert);
        }
        byNode
            .computeIfAbsent(node, n -> new LinkedHashMap<>())
            .computeIfAbsent(expert, e -> Assignment.newBuilder().setLayer(layer).setExpert(e))
            .addRows(t)
            .addWeights(routing.weight(t, r));
      }
    }
    Map<String, ComputeRequest> out = new LinkedHashMap<>();
    byNode.forEach(
        (node, assignments) -> {
          ComputeRequest.Builder b =
              ComputeRequest.newBuilder().setBatchId("probe-" + call).setHiddenStates(hidden);
          assignments.values().forEach(b::addAssignments);
          out.put(node, b.build());
        });
    return out;
  }

  private long viaRouter(ManagedChannel channel, Tensor hidden, int call) {
    long start = System.nanoTime();
    InferenceGrpc.newBlockingStub(channel)
        .withDeadlineAfter(DEADLINE_MS, TimeUnit.MILLISECONDS)
        .forward(
            ForwardRequest.newBuilder()
                .setRequestId("probe-" + call)
                .setLayer(layer)
                .setHiddenStates(hidden)
                .build());
    return (System.nanoTime() - start) / 1000;
  }

  private static long health(ManagedChannel channel) {
    long start = System.nanoTime();
    HealthGrpc.newBlockingStub(channel)
        .withDeadlineAfter(DEADLINE_MS, TimeUnit.MILLISECONDS)
        .check(HealthCheckRequest.getDefaultInstance());
    return (System.nanoTime() - start) / 1000;
  }

  private static long direct(
      Map<String, ManagedChannel> channels, Map<String, ComputeRequest> shares)
      throws InterruptedException {
    long start = System.nanoTime();
    List<ListenableFuture<ComputeResponse>> calls = new ArrayList<>();
    shares.forEach(
        (node, request) ->
            calls.add(
                ExpertGrpc.newFutureStub(channels.get(node))
                    .withDeadlineAfter(DEADLINE_MS, TimeUnit.MILLISECONDS)
                    .compute(request)));
    for (ListenableFuture<ComputeResponse> f : calls) {
      try {
        f.get(DEADLINE_MS, TimeUnit.MILLISECONDS);
      } catch (ExecutionException | TimeoutException e) {
        throw new IllegalStateException("a direct Compute call failed: " + e, e);
      }
    }
    return (System.nanoTime() - start) / 1000;
  }
}
