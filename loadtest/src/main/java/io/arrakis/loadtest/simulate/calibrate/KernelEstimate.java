package io.arrakis.loadtest.simulate.calibrate;

import io.arrakis.loadtest.load.RequestPool;
import io.arrakis.loadtest.load.TargetModel;
import io.arrakis.loadtest.load.TokenCounts;
import io.arrakis.loadtest.simulate.Calibration;
import io.arrakis.model.gating.Gate;
import io.arrakis.model.gating.Routing;
import io.arrakis.model.moe.MoeModel;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.proto.v1.ForwardRequest;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The expert-kernel CPU a 1-node cluster spent on a measured run, worked out rather than measured:
 * the requests the load driver sent (the same pool, rebuilt from the same seed) are gated here with
 * the model's own gates, merged into calls as the router merges them (consecutive requests, as many
 * per call as the run's calls per request say), and each call's experts priced by the in-process
 * timings. What the node's CPU time holds beyond this is its per-call and per-row work.
 */
final class KernelEstimate {
  private static final int SAMPLED_CALLS = 4000;

  private record Routed(int layer, int[] experts) {}

  private final List<Routed> requests;
  private final int experts;

  private KernelEstimate(List<Routed> requests, int experts) {
    this.requests = requests;
    this.experts = experts;
  }

  /** Gates the pool a {@code ClosedLoopDriver} builds for these options. */
  static KernelEstimate of(MoeModel model, float[] bias, int tokens, int poolSize, long seed)
      throws IOException {
    int hidden = model.config().hiddenSize();
    RequestPool pool =
        RequestPool.build(
            new TargetModel(hidden, model.moeLayers(), bias),
            model.moeLayers(),
            TokenCounts.fixed(tokens),
            poolSize,
            seed);
    Map<Integer, Gate> gates = new HashMap<>();
    List<Routed> out = new ArrayList<>();
    for (int i = 0; i < pool.size(); i++) {
      ForwardRequest r = pool.next().request();
      Gate gate = gates.get(r.getLayer());
      if (gate == null) {
        gate = model.gate(r.getLayer());
        gates.put(r.getLayer(), gate);
      }
      Routing routing = gate.route(TensorCodec.decodeFloat(r.getHiddenStates()));
      out.add(new Routed(r.getLayer(), routing.ids().clone()));
    }
    return new KernelEstimate(out, model.config().numExperts());
  }

  /**
   * The Zipf exponent of expert popularity in the gated pool, for the simulator's routing: the
   * slope of log count against log rank, averaged over layers (0 where the gates spread tokens
   * evenly).
   */
  double zipfSkew() {
    Map<Integer, int[]> counts = new HashMap<>();
    for (Routed r : requests) {
      int[] c = counts.computeIfAbsent(r.layer(), k -> new int[experts]);
      for (int e : r.experts()) {
        c[e]++;
      }
    }
    double sum = 0;
    for (int[] c : counts.values()) {
      int[] sorted = Arrays.stream(c).filter(n -> n > 0).sorted().toArray();
      int n = sorted.length;
      if (n < 2) {
        continue;
      }
      double mx = 0;
      double my = 0;
      for (int rank = 1; rank <= n; rank++) {
        mx += Math.log(rank);
        my += Math.log(sorted[n - rank]);
      }
      mx /= n;
      my /= n;
      double sxy = 0;
      double sxx = 0;
      for (int rank = 1; rank <= n; rank++) {
        double dx = Math.log(rank) - mx;
        sxy += dx * (Math.log(sorted[n - rank]) - my);
        sxx += dx * dx;
      }
      sum += Math.max(0, -sxy / sxx);
    }
    return counts.isEmpty() ? 0 : sum / counts.size();
  }

  /**
   * Mean kernel CPU seconds per call when each call merges {@code requestsPerCall} consecutive
   * requests on average (a whole number of them, rounded at random to keep the mean).
   */
  double secondsPerCall(double requestsPerCall, List<Calibration.Point> expert, long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    Map<Long, Integer> rows = new HashMap<>();
    int next = 0;
    double total = 0;
    int whole = (int) Math.floor(requestsPerCall);
    double fraction = requestsPerCall - whole;
    for (int call = 0; call < SAMPLED_CALLS; call++) {
      int merged = Math.max(1, whole + (random.nextDouble() < fraction ? 1 : 0));
      rows.clear();
      for (int i = 0; i < merged; i++) {
        Routed r = requests.get(next++ % requests.size());
        for (int e : r.experts()) {
          rows.merge((long) r.layer() * experts + e, 1, Integer::sum);
        }
      }
      for (int m : rows.values()) {
        total += Calibration.interpolate(expert, m);
      }
    }
    return total / SAMPLED_CALLS;
  }
}
