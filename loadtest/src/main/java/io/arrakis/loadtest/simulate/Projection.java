package io.arrakis.loadtest.simulate;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.arrakis.loadtest.report.ReportFiles;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.IntFunction;

/** One configuration simulated at several node counts, as a table and as JSON. */
public final class Projection {
  private static final ObjectMapper JSON =
      new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private final Calibration calibration;
  private final SimConfig base;
  private final List<SimResult> results;

  private Projection(Calibration calibration, SimConfig base, List<SimResult> results) {
    this.calibration = calibration;
    this.base = base;
    this.results = List.copyOf(results);
  }

  /**
   * Simulates {@code base} at each node count, with the workload {@code workloadFor} gives for it
   * (callers may grow with the cluster).
   */
  public static Projection run(
      Calibration calibration,
      SimConfig base,
      List<Integer> nodeCounts,
      IntFunction<SimConfig.Workload> workloadFor) {
    List<SimResult> out = new ArrayList<>();
    for (int n : nodeCounts) {
      out.add(Simulation.run(base.withNodes(n).withWorkload(workloadFor.apply(n)), calibration));
    }
    return new Projection(calibration, base, out);
  }

  public List<SimResult> results() {
    return results;
  }

  public String table() {
    StringBuilder sb = new StringBuilder();
    boolean shared = base.hardware().shared();
    sb.append(
        String.format(
            Locale.ROOT,
            "%6s %12s %9s %9s %7s %7s %7s %7s %7s %7s %9s %8s  %s%n",
            "nodes",
            "tokens/s",
            "p50 ms",
            "p99 ms",
            shared ? "host" : "router",
            "hot nd",
            "mean nd",
            "slots",
            "r.link",
            "n.link",
            "calls/req",
            "balance",
            "bottleneck"));
    for (SimResult r : results) {
      SimResult.Utilisation u = r.utilisation();
      sb.append(
          String.format(
              Locale.ROOT,
              "%6d %12s %9.1f %9.1f %7s %7s %7s %7s %7s %7s %9.2f %8.2f  %s%n",
              r.nodes(),
              String.format(Locale.ROOT, "%,.0f", r.tokensPerSecond()),
              r.p50Millis(),
              r.p99Millis(),
              percent(shared ? u.hostCpu() : u.routerCpu()),
              percent(u.hottestNode()),
              percent(u.meanNode()),
              percent(u.inFlightSlots()),
              shared ? "-" : percent(u.routerLink()),
              shared ? "-" : percent(u.nodeLink()),
              r.callsPerRequest(),
              r.predictedBalance(),
              r.bottleneck()));
    }
    return sb.toString();
  }

  private static String percent(double f) {
    return Double.isNaN(f) ? "-" : String.format(Locale.ROOT, "%.0f%%", 100 * f);
  }

  public ObjectNode toJson() {
    ObjectNode root = JSON.createObjectNode();
    root.set("calibration", CalibrationJson.toJson(calibration, null));
    ObjectNode c = root.putObject("config");
    SimConfig.Shape s = base.shape();
    c.put("routers", s.routers())
        .put("experts", s.experts())
        .put("top_k", s.topK())
        .put("layers", s.layers())
        .put("skew", base.workload().skew())
        .put("strategy", base.layout().strategy().label())
        .put("replicas", base.layout().replicas())
        .put("slots_per_node", base.layout().slotsPerNode())
        .put("replicas_per_layer", base.layout().replicasPerLayer())
        .put("tokens", base.workload().tokens().toString())
        .put("max_in_flight", base.dispatch().maxInFlight())
        .put("max_batch_tokens", base.dispatch().maxBatchTokens())
        .put("admission_tokens", base.dispatch().admissionTokens())
        .put("seed", base.seed());
    SimConfig.Hardware h = base.hardware();
    c.putObject("hardware")
        .put("node_cores", h.nodeCores())
        .put("compute_threads", h.computeThreads())
        .put("router_cores", h.routerCores())
        .put("host_cores", h.hostCores())
        .put("node_link_gbps", h.nodeLinkGbps())
        .put("router_link_gbps", h.routerLinkGbps())
        .put("link_latency_us", h.linkLatencyMicros());
    ArrayNode rows = root.putArray("results");
    for (SimResult r : results) {
      ObjectNode o = rows.addObject();
      o.put("nodes", r.nodes())
          .put("tokens_per_s", r.tokensPerSecond())
          .put("requests_per_s", r.requestsPerSecond())
          .put("latency_ms_mean", r.meanMillis())
          .put("latency_ms_p50", r.p50Millis())
          .put("latency_ms_p99", r.p99Millis())
          .put("refused", r.refused())
          .put("calls_per_request", r.callsPerRequest())
          .put("tokens_per_call", r.tokensPerCall())
          .put("predicted_balance", r.predictedBalance())
          .put("bottleneck", r.bottleneck())
          .put("simulated_s", r.simulatedSeconds())
          .put("events", r.events());
      SimResult.Utilisation u = r.utilisation();
      ObjectNode util = o.putObject("utilisation");
      number(util, "router_cpu", u.routerCpu());
      number(util, "host_cpu", u.hostCpu());
      util.put("hottest_node", u.hottestNode())
          .put("hottest_node_id", u.hottestNodeId())
          .put("mean_node", u.meanNode())
          .put("in_flight_slots", u.inFlightSlots())
          .put("router_link", u.routerLink())
          .put("node_link", u.nodeLink());
      o.putObject("cpu_s_per_request")
          .put("router", r.cpuPerRequest().router())
          .put("node", r.cpuPerRequest().node())
          .put("client", r.cpuPerRequest().client());
    }
    return root;
  }

  private static void number(ObjectNode o, String field, double v) {
    if (Double.isNaN(v)) {
      o.putNull(field);
    } else {
      o.put(field, v);
    }
  }

  public void writeJson(Path file) throws IOException {
    ReportFiles.write(file, JSON.writeValueAsString(toJson()) + "\n");
  }
}
