package io.arrakis.loadtest.simulate;

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
final class Simulation {
  /**
   * A closed-loop caller waits this long after a refusal before it sends again (as ClosedLoopDriver
   * does).
   */
  static final double REFUSED_PAUSE_SECONDS = 0.020;

  /** Bytes of a Compute call besides the rows: ids, shapes. */
  private static final int CALL_OVERHEAD_BYTES = 64;

  /** Bytes per token-expert pair of a Compute call: its row index and gate weight. */
  private static final int PAIR_BYTES = 8;

  private final SimConfig config;
  private final Calibration costs;
  private final EventLoop loop = new EventLoop();
  private final SplittableRandom random;
  private final ExpertLayout layout;
  private final SlicePlanner planner;
  private final Machines machines;
  private final Dispatcher[][] dispatchers;
  private final long[] admitted;
  private final int rowBytes;
  private final Window window;
  // the experts of a merged batch and their rows, reused per call
  private final int[] kernelRows;
  private final int[] kernelTouched;

  private long nextRequestId;
  private int completed;
  private boolean stopped;

  private Simulation(SimConfig config, Calibration costs) {
    this.config = config;
    this.costs = costs;
    SimConfig.Shape s = config.shape();
    this.random = new SplittableRandom(config.seed());
    ExpertRouting routing =
        new ExpertRouting(
            s.layers(), s.experts(), s.topK(), config.workload().skew(), config.seed() * 31 + 7);
    this.layout = ExpertLayout.plan(config, routing);
    this.planner =
        new SlicePlanner(routing, layout, s.routers(), s.nodes(), config.workload().tokens().max());
    this.machines = new Machines(loop, config, costs.host());
    this.dispatchers = new Dispatcher[s.routers()][s.nodes()];
    for (int r = 0; r < s.routers(); r++) {
      for (int n = 0; n < s.nodes(); n++) {
        dispatchers[r][n] = new Dispatcher(loop, r, n, config.dispatch(), this::call);
      }
    }
    this.admitted = new long[s.routers()];
    this.rowBytes = costs.model().hidden() * Float.BYTES;
    this.window = new Window(config.workload().requests());
    this.kernelRows = new int[s.layers() * s.experts()];
    this.kernelTouched = new int[s.layers() * s.experts()];
  }

  /**
   * Simulates {@code config} with {@code costs}; the model sizes (hidden, ffn) are the
   * calibration's.
   */
  public static SimResult run(SimConfig config, Calibration costs) {
    return new Simulation(config, costs).run();
  }

  static String nodeId(int n) {
    return "expert-" + n;
  }

  private SimResult run() {
    SimConfig.Workload w = config.workload();
    if (w.warmupRequests() == 0) {
      openWindow();
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
      throw new IllegalStateException(
          "the simulation ran out of events before the measured requests were answered");
    }
    double slots = 0;
    for (Dispatcher[] byNode : dispatchers) {
      for (Dispatcher d : byNode) {
        slots = Math.max(slots, d.slotUtilisation());
      }
    }
    return window.result(
        config,
        machines.utilisation(loop.now(), slots),
        loop.now(),
        layout.balance().mean(),
        loop.processed());
  }

  private void openWindow() {
    window.open(loop.now());
    machines.resetMeters(loop.now());
    for (Dispatcher[] byNode : dispatchers) {
      for (Dispatcher d : byNode) {
        d.resetMeter();
      }
    }
  }

  // ---- clients
  // -------------------------------------------------------------------------------------

  private void scheduleArrival() {
    double gap = -Math.log(1 - random.nextDouble()) / config.workload().ratePerSecond();
    loop.after(
        gap,
        () -> {
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
    int router = client % config.shape().routers();
    SimRequest req =
        new SimRequest(client, router, (int) (id % config.shape().layers()), tokens, loop.now());
    clientWork(
        req,
        () ->
            transfer(null, machines.routerIn[router], (long) tokens * rowBytes, () -> arrive(req)));
  }

  /**
   * Half the load driver's work on the way out, half on the way back; none when clients are
   * outside.
   */
  private void clientWork(SimRequest req, Runnable then) {
    if (machines.clientPool == null) {
      then.run();
      return;
    }
    double cpu = (costs.client().requestSeconds() + costs.client().tokenSeconds() * req.tokens) / 2;
    window.clientCpu(cpu);
    machines.clientPool.run(cpu, then);
  }

  private void ended(SimRequest req, boolean ok) {
    if (stopped) {
      return; // answers that end in the same event as the last measured one
    }
    if (ok) {
      window.answered(loop.now() - req.start, req.tokens);
      completed++;
      if (window.full()) {
        stopped = true;
        return;
      }
      if (!window.isOpen() && completed >= config.workload().warmupRequests()) {
        openWindow();
      }
    } else {
      window.refused();
    }
    if (config.workload().closedLoop()) {
      if (ok) {
        send(req.client);
      } else {
        loop.after(REFUSED_PAUSE_SECONDS, () -> send(req.client));
      }
    }
  }

  // ---- router
  // --------------------------------------------------------------------------------------

  /**
   * Admission, then decode, gate and plan (half the per-request work; the other half combines and
   * replies).
   */
  private void arrive(SimRequest req) {
    int r = req.router;
    if (admitted[r] > 0 && admitted[r] + req.tokens > config.dispatch().admissionTokens()) {
      transfer(machines.routerOut[r], null, CALL_OVERHEAD_BYTES, () -> ended(req, false));
      return;
    }
    admitted[r] += req.tokens;
    double tokenHalf = costs.router().tokenSeconds() / 2;
    double gate = costs.router().gateSecondsPerTokenExpert() * config.shape().experts();
    routerWork(
        r,
        costs.router().requestSeconds() / 2 + (tokenHalf + gate) * req.tokens,
        false,
        () -> {
          List<Slice> slices = planner.plan(req, random);
          req.pending = slices.size();
          for (Slice s : slices) {
            dispatchers[r][s.node].submit(s);
          }
        });
  }

  private void routerWork(int r, double cpu, boolean perCall, Runnable then) {
    window.routerCpu(cpu, perCall);
    machines.routerPool[r].run(cpu, then);
  }

  private void sliceDone(Slice s) {
    SimRequest req = s.request;
    if (--req.pending > 0) {
      return;
    }
    int r = req.router;
    double cpu =
        costs.router().requestSeconds() / 2 + costs.router().tokenSeconds() / 2 * req.tokens;
    routerWork(
        r,
        cpu,
        false,
        () -> {
          admitted[r] -= req.tokens;
          transfer(
              machines.routerOut[r],
              null,
              (long) req.tokens * rowBytes,
              () -> clientWork(req, () -> ended(req, true)));
        });
  }

  // ---- calls to expert nodes
  // -----------------------------------------------------------------------

  /**
   * Router assembles and sends; the node's transport thread takes it, a compute thread runs it;
   * back.
   */
  private void call(Dispatcher d, List<Slice> batch, int rows) {
    int r = d.router;
    int n = d.node;
    int pairs = 0;
    for (Slice s : batch) {
      pairs += s.pairs;
    }
    window.call(rows);
    // as ExpertService does: the transport thread parses and checks the call; a compute thread
    // decodes
    // the rows, checks their values, runs the experts and encodes the partial sums
    double compute = kernelSeconds(batch) + costs.node().rowSeconds() * rows;
    double half = costs.router().callSeconds() / 2;
    long sent = (long) rows * rowBytes + (long) pairs * PAIR_BYTES + CALL_OVERHEAD_BYTES;
    long back = (long) rows * rowBytes + CALL_OVERHEAD_BYTES;
    routerWork(
        r,
        half,
        true,
        () ->
            transfer(
                machines.routerOut[r],
                machines.nodeIn[n],
                sent,
                () ->
                    nodeWork(
                        machines.nodeTransport[n],
                        costs.node().callSeconds(),
                        () ->
                            nodeWork(
                                machines.nodeCompute[n],
                                compute,
                                () ->
                                    transfer(
                                        machines.nodeOut[n],
                                        machines.routerIn[r],
                                        back,
                                        () ->
                                            routerWork(
                                                r,
                                                half,
                                                true,
                                                () -> {
                                                  planner.answered(r, n, rows);
                                                  for (Slice s : batch) {
                                                    sliceDone(s);
                                                  }
                                                  d.ended();
                                                }))))));
  }

  private void nodeWork(Pool pool, double cpu, Runnable then) {
    window.nodeCpu(cpu);
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

  /**
   * A message from one machine's link to another's (null: outside the model); on a shared host only
   * the latency and the receiving thread's hand-off.
   */
  private void transfer(Link from, Link to, long bytes, Runnable then) {
    SimConfig.Hardware hw = config.hardware();
    if (hw.shared()) {
      loop.at(loop.now() + hw.linkLatencyMicros() / 1e6 + costs.host().handOffSeconds(), then);
      return;
    }
    double now = loop.now();
    double done =
        Math.max(
            from == null ? now : from.reserve(now, bytes),
            to == null ? now : to.reserve(now, bytes));
    loop.at(done + hw.linkLatencyMicros() / 1e6, then);
  }
}
