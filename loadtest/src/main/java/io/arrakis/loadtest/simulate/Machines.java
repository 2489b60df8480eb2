package io.arrakis.loadtest.simulate;

/**
 * The simulated hardware: a CPU, thread pools and a link (per direction) for each router and expert
 * node; or one shared CPU for all of them and the clients (a local cluster), whose links cost
 * nothing.
 */
final class Machines {
  /**
   * Threads a router runs its work on: the compute dispatcher's actors (4, reference.conf) and
   * gRPC's event loops (2 per core). Its CPU, not its threads, is what limits it; the threads only
   * keep one call's work from queueing behind another's.
   */
  static final int ROUTER_ACTOR_THREADS = 4;

  final Cpu host;
  final Cpu[] routerCpu;
  final Pool[] routerPool;
  final Link[] routerIn;
  final Link[] routerOut;
  final Cpu[] nodeCpu;

  /** The node's transport threads: receive, parse, check, reply. */
  final Pool[] nodeTransport;

  final Pool[] nodeCompute;
  final Link[] nodeIn;
  final Link[] nodeOut;

  /** The load driver's threads on a shared machine; null when clients are outside the model. */
  final Pool clientPool;

  /**
   * @param sharing how a shared machine's cores go to the processes: only the efficiency's share of
   *     them does their work
   */
  Machines(EventLoop loop, SimConfig c, Calibration.SharedHost sharing) {
    SimConfig.Hardware hw = c.hardware();
    int routers = c.shape().routers();
    int nodes = c.shape().nodes();
    host = hw.shared() ? new Cpu(loop, "host", hw.hostCores() * sharing.efficiency()) : null;
    routerCpu = new Cpu[routers];
    routerPool = new Pool[routers];
    routerIn = new Link[routers];
    routerOut = new Link[routers];
    for (int r = 0; r < routers; r++) {
      routerCpu[r] = hw.shared() ? host : new Cpu(loop, "router-" + r, hw.routerCores());
      routerPool[r] = new Pool(loop, routerCpu[r], ROUTER_ACTOR_THREADS + 2 * hw.routerCores());
      routerIn[r] = new Link(hw.routerLinkGbps());
      routerOut[r] = new Link(hw.routerLinkGbps());
    }
    nodeCpu = new Cpu[nodes];
    nodeTransport = new Pool[nodes];
    nodeCompute = new Pool[nodes];
    nodeIn = new Link[nodes];
    nodeOut = new Link[nodes];
    for (int n = 0; n < nodes; n++) {
      nodeCpu[n] = hw.shared() ? host : new Cpu(loop, Simulation.nodeId(n), hw.nodeCores());
      nodeTransport[n] = new Pool(loop, nodeCpu[n], hw.nodeCores());
      nodeCompute[n] = new Pool(loop, nodeCpu[n], hw.computeThreads());
      nodeIn[n] = new Link(hw.nodeLinkGbps());
      nodeOut[n] = new Link(hw.nodeLinkGbps());
    }
    clientPool = hw.shared() ? new Pool(loop, host, (int) Math.ceil(hw.hostCores())) : null;
  }

  void resetMeters(double now) {
    if (host != null) {
      host.resetMeter();
    }
    for (int r = 0; r < routerCpu.length; r++) {
      routerCpu[r].resetMeter();
      routerIn[r].resetMeter(now);
      routerOut[r].resetMeter(now);
    }
    for (int n = 0; n < nodeCpu.length; n++) {
      nodeCpu[n].resetMeter();
      nodeCompute[n].resetMeter();
      nodeIn[n].resetMeter(now);
      nodeOut[n].resetMeter(now);
    }
  }

  /**
   * Busy fractions since the last reset; on a shared machine the host's CPU stands for the
   * routers'.
   *
   * @param inFlightSlots the busiest dispatcher's in-flight calls as a fraction of max-in-flight
   */
  SimResult.Utilisation utilisation(double now, double inFlightSlots) {
    double router = 0;
    double routerLink = 0;
    for (int r = 0; r < routerCpu.length; r++) {
      router = Math.max(router, routerCpu[r].utilisation());
      routerLink =
          Math.max(
              routerLink, Math.max(routerIn[r].utilisation(now), routerOut[r].utilisation(now)));
    }
    double hottest = -1;
    int hottestNode = 0;
    double sum = 0;
    double nodeLink = 0;
    for (int n = 0; n < nodeCpu.length; n++) {
      double u = nodeCompute[n].utilisation();
      sum += u;
      if (u > hottest) {
        hottest = u;
        hottestNode = n;
      }
      nodeLink =
          Math.max(nodeLink, Math.max(nodeIn[n].utilisation(now), nodeOut[n].utilisation(now)));
    }
    boolean shared = host != null;
    return new SimResult.Utilisation(
        shared ? Double.NaN : router,
        hottest,
        Simulation.nodeId(hottestNode),
        sum / nodeCpu.length,
        inFlightSlots,
        shared ? 0 : routerLink,
        shared ? 0 : nodeLink,
        shared ? host.utilisation() : Double.NaN);
  }
}
