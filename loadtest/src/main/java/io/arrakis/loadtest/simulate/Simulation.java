package io.arrakis.loadtest.simulate;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A discrete-event model of one cluster under load, following the real request path (see
 * docs/architecture.md, "One Forward call"):
 *
 * <ol>
 *   <li>a client sends T tokens to a router (clients are spread over routers); past the router's
 *       admission limit the request is refused at once;
 *   <li>the router decodes, gates and plans on its CPU: each token's top-k experts (drawn from the
 *       Zipf popularity) go to one holder each, a node the token already goes to first, else the
 *       holder with the fewest outstanding tokens at this router, so that a token crosses to a node
 *       once;
 *   <li>a dispatcher per (router, node) sends a slice at once while fewer than max-in-flight calls
 *       are out, else queues it and merges what waits into one call (up to max-batch-tokens) when a
 *       call returns;
 *   <li>the call crosses the links, the node's transport thread decodes it, a compute thread runs
 *       one GEMM block per (layer, expert) of the merged batch, the answer crosses back;
 *   <li>when every slice of a request is back the router combines and replies.
 * </ol>
 *
 * Every step costs CPU from the {@link Calibration} on the machine it runs on: routers and nodes
 * their own machines, or all of them (and the clients) one shared machine. Deterministic for a
 * configuration and seed.
 */
public final class Simulation {
  /** A closed-loop caller waits this long after a refusal before it sends again (as ClosedLoopDriver does). */
  static final double REFUSED_PAUSE_SECONDS = 0.020;
  /** Bytes of a Compute call besides the rows: ids, shapes, one (row, weight) pair per token-expert. */
  private static final int CALL_OVERHEAD_BYTES = 64;
  private static final int PAIR_BYTES = 8;

  private final SimConfig config;
  private final Calibration costs;
  private final EventLoop loop = new EventLoop();
  private final SplittableRandom random;
  private final ExpertRouting routing;
  private final ExpertLayout layout;
  private final int nodes;
  private final int routers;
  private final int rowBytes;

  private final Cpu host;
  private final Cpu[] routerCpu;
  private final Pool[] routerPool;
  private final Cpu[] nodeCpu;
  private final Pool[] nodeTransport;
  private final Pool[] nodeCompute;
  private final Pool clientPool;
  private final Link[] routerIn;
  private final Link[] routerOut;
  private final Link[] nodeIn;
  private final Link[] nodeOut;
  private final Dispatcher[][] dispatchers;
  private final long[][] outstanding;
  private final long[] admitted;

  // planning scratch, reused per request
  private final Slice[] sliceOfNode;
  private final int[] touched;
  private final int[] picks;
  private final int[] kernelRows;
  private final int[] kernelTouched;

  private long nextRequestId;
  private int completed;
  private boolean measuring;
  private boolean stopped;
  private double windowStart;
  private final double[] latencies;
  private int measured;
  private long measuredTokens;
  private long refused;
  private long calls;
  private long callRows;
  private double routerCpuSeconds;
  private double routerCallCpuSeconds;
  private double nodeCpuSeconds;
  private double clientCpuSeconds;

  private Simulation(SimConfig config, Calibration costs) {
    this.config = config;
    this.costs = costs;
    SimConfig.Shape s = config.shape();
    SimConfig.Hardware hw = config.hardware();
    this.random = new SplittableRandom(config.seed());
    this.routing = new ExpertRouting(s.layers(), s.experts(), s.topK(), config.workload().skew(), config.seed() * 31 + 7);
    this.layout = ExpertLayout.plan(config, routing);
    this.nodes = s.nodes();
    this.routers = s.routers();
    this.rowBytes = costs.model().hidden() * Float.BYTES;

    host = hw.shared() ? new Cpu(loop, "host", hw.hostCores()) : null;
    routerCpu = new Cpu[routers];
    routerPool = new Pool[routers];
    routerIn = new Link[routers];
    routerOut = new Link[routers];
    for (int r = 0; r < routers; r++) {
      routerCpu[r] = hw.shared() ? host : new Cpu(loop, "router-" + r, hw.routerCores());
      routerPool[r] = new Pool(loop, routerCpu[r], hw.routerCores());
      routerIn[r] = new Link(hw.routerLinkGbps());
      routerOut[r] = new Link(hw.routerLinkGbps());
    }
    nodeCpu = new Cpu[nodes];
    nodeTransport = new Pool[nodes];
    nodeCompute = new Pool[nodes];
    nodeIn = new Link[nodes];
    nodeOut = new Link[nodes];
    for (int n = 0; n < nodes; n++) {
      nodeCpu[n] = hw.shared() ? host : new Cpu(loop, nodeId(n), hw.nodeCores());
      nodeTransport[n] = new Pool(loop, nodeCpu[n], hw.nodeCores());
      nodeCompute[n] = new Pool(loop, nodeCpu[n], hw.computeThreads());
      nodeIn[n] = new Link(hw.nodeLinkGbps());
      nodeOut[n] = new Link(hw.nodeLinkGbps());
    }
    clientPool = hw.shared() ? new Pool(loop, host, (int) Math.ceil(hw.hostCores())) : null;
    dispatchers = new Dispatcher[routers][nodes];
    for (int r = 0; r < routers; r++) {
      for (int n = 0; n < nodes; n++) {
        dispatchers[r][n] = new Dispatcher(r, n);
      }
    }
    outstanding = new long[routers][nodes];
    admitted = new long[routers];
    sliceOfNode = new Slice[nodes];
    touched = new int[nodes];
    picks = new int[config.workload().tokens().max() * s.topK()];
    kernelRows = new int[s.layers() * s.experts()];
    kernelTouched = new int[s.layers() * s.experts()];
    latencies = new double[config.workload().requests()];
  }

  /** Simulates {@code config} with {@code costs}; the model sizes (hidden, ffn) are the calibration's. */
  public static SimResult run(SimConfig config, Calibration costs) {
    return new Simulation(config, costs).run();
  }

  static String nodeId(int n) {
    return "expert-" + n;
  }

  private SimResult run() {
    SimConfig.Workload w = config.workload();
    if (w.warmupRequests() == 0) {
      startWindow();
    }
    if (w.closedLoop()) {
      for (int c = 0; c < w.concurrency(); c++) {
        int client = c;
        loop.at(0, () -> send(client));
      }
    } else {
      scheduleArrival();
    }
    loop.run(() -> stopped);
    if (!stopped) {
      throw new IllegalStateException("the simulation ran out of events before the measured requests were answered");
    }
    return result();
  }

  // ---- clients -------------------------------------------------------------------------------------

  private void scheduleArrival() {
    double gap = -Math.log(1 - random.nextDouble()) / config.workload().ratePerSecond();
    loop.after(gap, () -> {
      send((int) (nextRequestId % Integer.MAX_VALUE));
      scheduleArrival();
    });
  }

  private void send(int client) {
    if (stopped) {
      return;
    }
    long id = nextRequestId++;
    int tokens = config.workload().tokens().next(random);
    Request req = new Request(client, client % routers, (int) (id % config.shape().layers()), tokens, loop.now());
    clientWork(req, () -> transfer(null, routerIn[req.router], (long) tokens * rowBytes, () -> arrive(req)));
  }

  private void clientWork(Request req, Runnable then) {
    if (clientPool == null) {
      then.run();
      return;
    }
    double cpu = (costs.client().requestSeconds() + costs.client().tokenSeconds() * req.tokens) / 2;
    if (measuring) {
      clientCpuSeconds += cpu;
    }
    clientPool.run(cpu, then);
  }

  private void ended(Request req, boolean ok) {
    if (stopped) {
      return; // answers that end in the same event as the last measured one
    }
    if (measuring) {
      if (ok) {
        latencies[measured++] = loop.now() - req.start;
        measuredTokens += req.tokens;
      } else {
        refused++;
      }
    }
    if (ok) {
      completed++;
      if (!measuring && completed >= config.workload().warmupRequests()) {
        startWindow();
      } else if (measuring && measured == latencies.length) {
        stopped = true;
        return;
      }
    }
    if (config.workload().closedLoop()) {
      if (ok) {
        send(req.client);
      } else {
        loop.after(REFUSED_PAUSE_SECONDS, () -> send(req.client));
      }
    }
  }

  // ---- router --------------------------------------------------------------------------------------

  private void arrive(Request req) {
    int r = req.router;
    if (admitted[r] > 0 && admitted[r] + req.tokens > config.dispatch().admissionTokens()) {
      transfer(routerOut[r], null, CALL_OVERHEAD_BYTES, () -> ended(req, false));
      return;
    }
    admitted[r] += req.tokens;
    double tokenHalf = costs.router().tokenSeconds() / 2;
    double gate = costs.router().gateSecondsPerTokenExpert() * config.shape().experts();
    routerWork(r, costs.router().requestSeconds() / 2 + (tokenHalf + gate) * req.tokens, () -> plan(req));
  }

  private void routerWork(int r, double cpu, Runnable then) {
    if (measuring) {
      routerCpuSeconds += cpu;
    }
    routerPool[r].run(cpu, then);
  }

  /** One slice per node, as DispatchPlanner makes them; then hands each to its node's dispatcher. */
  private void plan(Request req) {
    int k = config.shape().topK();
    routing.route(req.layer, req.tokens, random, picks);
    long[] load = outstanding[req.router];
    int used = 0;
    int[] chosen = new int[k];
    for (int t = 0; t < req.tokens; t++) {
      int chosenCount = 0;
      for (int j = 0; j < k; j++) {
        int expert = picks[t * k + j];
        int node = choose(layout.holders(req.layer, expert), chosen, chosenCount, load);
        Slice slice = sliceOfNode[node];
        if (slice == null) {
          slice = new Slice(req, node, k * req.tokens);
          sliceOfNode[node] = slice;
          touched[used++] = node;
        }
        if (!contains(chosen, chosenCount, node)) {
          chosen[chosenCount++] = node;
          slice.rows++;
          load[node]++; // the planner's tally for this request, then the dispatcher's count until the call ends
        }
        slice.experts[slice.pairs++] = expert;
      }
    }
    Arrays.sort(touched, 0, used);
    req.pending = used;
    for (int i = 0; i < used; i++) {
      Slice s = sliceOfNode[touched[i]];
      sliceOfNode[touched[i]] = null;
      dispatchers[req.router][s.node].submit(s);
    }
  }

  private static int choose(int[] holders, int[] chosen, int chosenCount, long[] load) {
    for (int i = 0; i < chosenCount; i++) {
      if (contains(holders, holders.length, chosen[i])) {
        return chosen[i];
      }
    }
    int best = holders[0];
    for (int i = 1; i < holders.length; i++) {
      if (load[holders[i]] < load[best]) {
        best = holders[i];
      }
    }
    return best;
  }

  private static boolean contains(int[] a, int count, int v) {
    for (int i = 0; i < count; i++) {
      if (a[i] == v) {
        return true;
      }
    }
    return false;
  }

  private void sliceDone(Slice s) {
    Request req = s.request;
    if (--req.pending > 0) {
      return;
    }
    int r = req.router;
    double cpu = costs.router().requestSeconds() / 2 + costs.router().tokenSeconds() / 2 * req.tokens;
    routerWork(r, cpu, () -> {
      admitted[r] -= req.tokens;
      transfer(routerOut[r], null, (long) req.tokens * rowBytes, () -> clientWork(req, () -> ended(req, true)));
    });
  }

  // ---- calls to expert nodes -----------------------------------------------------------------------

  /** A router's NodeDispatcher for one node: sends at once below max-in-flight, else merges what waits. */
  private final class Dispatcher {
    private final int router;
    private final int node;
    private final java.util.ArrayDeque<Slice> pending = new java.util.ArrayDeque<>();
    private int inFlight;

    Dispatcher(int router, int node) {
      this.router = router;
      this.node = node;
    }

    void submit(Slice s) {
      pending.add(s);
      sendWhatFits();
    }

    private void sendWhatFits() {
      SimConfig.Dispatch d = config.dispatch();
      while (inFlight < d.maxInFlight() && !pending.isEmpty()) {
        List<Slice> batch = new ArrayList<>();
        int rows = 0;
        while (!pending.isEmpty()) {
          Slice next = pending.peek();
          if (!batch.isEmpty() && rows + next.rows > d.maxBatchTokens()) {
            break;
          }
          batch.add(pending.poll());
          rows += next.rows;
        }
        inFlight++;
        call(batch, rows);
      }
    }

    private void call(List<Slice> batch, int rows) {
      int pairs = 0;
      for (Slice s : batch) {
        pairs += s.pairs;
      }
      if (measuring) {
        calls++;
        callRows += rows;
      }
      double kernel = kernelSeconds(batch);
      double half = costs.router().callSeconds() / 2;
      long sent = (long) rows * rowBytes + (long) pairs * PAIR_BYTES + CALL_OVERHEAD_BYTES;
      long back = (long) rows * rowBytes + CALL_OVERHEAD_BYTES;
      if (measuring) {
        routerCallCpuSeconds += 2 * half;
      }
      routerWork(router, half, () -> transfer(routerOut[router], nodeIn[node], sent, () ->
          nodeWork(nodeTransport[node], costs.node().callSeconds() + costs.node().rowSeconds() * rows, () ->
              nodeWork(nodeCompute[node], kernel, () -> transfer(nodeOut[node], routerIn[router], back, () ->
                  routerWork(router, half, () -> ended(batch, rows)))))));
    }

    private void ended(List<Slice> batch, int rows) {
      inFlight--;
      outstanding[router][node] -= rows;
      for (Slice s : batch) {
        sliceDone(s);
      }
      sendWhatFits();
    }
  }

  private void nodeWork(Pool pool, double cpu, Runnable then) {
    if (measuring) {
      nodeCpuSeconds += cpu;
    }
    pool.run(cpu, then);
  }

  /** The node runs one expert block per (layer, expert) of the merged batch, over all its rows. */
  private double kernelSeconds(List<Slice> batch) {
    int experts = config.shape().experts();
    int used = 0;
    for (Slice s : batch) {
      int base = s.request.layer * experts;
      for (int i = 0; i < s.pairs; i++) {
        int key = base + s.experts[i];
        if (kernelRows[key]++ == 0) {
          kernelTouched[used++] = key;
        }
      }
    }
    double seconds = 0;
    for (int i = 0; i < used; i++) {
      int key = kernelTouched[i];
      seconds += costs.expertSeconds(kernelRows[key]);
      kernelRows[key] = 0;
    }
    return seconds;
  }

  /** A message from one machine's link to another's (null: outside the model); free on a shared host. */
  private void transfer(Link from, Link to, long bytes, Runnable then) {
    SimConfig.Hardware hw = config.hardware();
    if (hw.shared()) {
      loop.at(loop.now(), then);
      return;
    }
    double now = loop.now();
    double done = Math.max(from == null ? now : from.reserve(now, bytes), to == null ? now : to.reserve(now, bytes));
    loop.at(done + hw.linkLatencyMicros() / 1e6, then);
  }

  // ---- measurement ---------------------------------------------------------------------------------

  private void startWindow() {
    measuring = true;
    windowStart = loop.now();
    double now = loop.now();
    if (host != null) {
      host.resetMeter();
    }
    for (int r = 0; r < routers; r++) {
      routerCpu[r].resetMeter();
      routerIn[r].resetMeter(now);
      routerOut[r].resetMeter(now);
    }
    for (int n = 0; n < nodes; n++) {
      nodeCpu[n].resetMeter();
      nodeCompute[n].resetMeter();
      nodeIn[n].resetMeter(now);
      nodeOut[n].resetMeter(now);
    }
  }

  private SimResult result() {
    double now = loop.now();
    double elapsed = now - windowStart;
    double routerUtil = 0;
    double routerLink = 0;
    for (int r = 0; r < routers; r++) {
      routerUtil = Math.max(routerUtil, routerCpu[r].utilisation());
      routerLink = Math.max(routerLink, Math.max(routerIn[r].utilisation(now), routerOut[r].utilisation(now)));
    }
    double hottest = -1;
    int hottestNode = 0;
    double sum = 0;
    double nodeLink = 0;
    for (int n = 0; n < nodes; n++) {
      double u = nodeCompute[n].utilisation();
      sum += u;
      if (u > hottest) {
        hottest = u;
        hottestNode = n;
      }
      nodeLink = Math.max(nodeLink, Math.max(nodeIn[n].utilisation(now), nodeOut[n].utilisation(now)));
    }
    boolean shared = config.hardware().shared();
    SimResult.Utilisation util = new SimResult.Utilisation(shared ? Double.NaN : routerUtil, hottest, nodeId(hottestNode),
        sum / nodes, shared ? 0 : routerLink, shared ? 0 : nodeLink, shared ? host.utilisation() : Double.NaN);
    double[] sorted = Arrays.copyOf(latencies, measured);
    Arrays.sort(sorted);
    int answered = measured;
    SimResult.CpuPerRequest cpu = new SimResult.CpuPerRequest(routerCpuSeconds / answered, nodeCpuSeconds / answered,
        clientCpuSeconds / answered);
    double callsPerRequest = (double) calls / answered;
    double mean = Arrays.stream(sorted).average().orElse(Double.NaN);
    return new SimResult(nodes, measuredTokens / elapsed, answered / elapsed, mean * 1e3, percentile(sorted, 50) * 1e3,
        percentile(sorted, 99) * 1e3, refused, util, callsPerRequest, calls == 0 ? 0 : (double) callRows / calls,
        layout.balance().mean(), cpu, Bottleneck.name(config, util, routerCallCpuSeconds / Math.max(1e-300, routerCpuSeconds),
            callsPerRequest, (double) refused / (refused + answered)), elapsed, loop.processed());
  }

  private static double percentile(double[] sorted, double p) {
    if (sorted.length == 0) {
      return Double.NaN;
    }
    int rank = (int) Math.ceil(p / 100 * sorted.length);
    return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
  }

  private static final class Request {
    final int client;
    final int router;
    final int layer;
    final int tokens;
    final double start;
    int pending;

    Request(int client, int router, int layer, int tokens, double start) {
      this.client = client;
      this.router = router;
      this.layer = layer;
      this.tokens = tokens;
      this.start = start;
    }
  }

  /** The part of a request one node computes: its tokens (rows) and their token-expert pairs. */
  private static final class Slice {
    final Request request;
    final int node;
    final int[] experts;
    int pairs;
    int rows;

    Slice(Request request, int node, int capacity) {
      this.request = request;
      this.node = node;
      this.experts = new int[capacity];
    }
  }
}
