package io.arrakis.loadtest.simulate;

import io.arrakis.loadtest.load.TokenCounts;
import io.arrakis.model.placement.planner.Strategy;

/**
 * One simulated configuration: the cluster's shape, where experts go, the router's batching
 * settings, the hardware, the load, and the random seed (the same configuration and seed give the
 * same result).
 */
public record SimConfig(
    Shape shape,
    Layout layout,
    Dispatch dispatch,
    Hardware hardware,
    Workload workload,
    long seed) {

  /**
   * The cluster's and the model's sizes.
   *
   * @param nodes expert nodes
   * @param routers router nodes; clients are spread over them evenly
   * @param experts experts per MoE layer
   * @param topK experts per token
   * @param layers MoE layers; requests go to them in turn, and each has its own hot experts
   */
  public record Shape(int nodes, int routers, int experts, int topK, int layers) {
    public Shape {
      if (nodes < 1 || routers < 1 || experts < 1 || layers < 1) {
        throw new IllegalArgumentException("nodes, routers, experts and layers must be at least 1");
      }
      if (topK < 1 || topK > experts) {
        throw new IllegalArgumentException("top-k must be in 1.." + experts + ", got " + topK);
      }
    }
  }

  /**
   * How experts are placed on the nodes.
   *
   * @param strategy contiguous, round-robin or balanced (the planner, from the expected load)
   * @param replicas contiguous and round-robin: distinct nodes holding each expert
   * @param slotsPerNode balanced: expert slots per node and layer; 0 = ⌈1.125 × experts ÷ nodes⌉
   *     (an eighth spare, as DeepSeek keeps 32 redundant experts for 256)
   * @param replicasPerLayer balanced: expert copies per layer; 0 = every slot
   */
  public record Layout(Strategy strategy, int replicas, int slotsPerNode, int replicasPerLayer) {
    public Layout {
      if (replicas < 1 || slotsPerNode < 0 || replicasPerLayer < 0) {
        throw new IllegalArgumentException(
            "replicas must be at least 1; slots and replicas per layer at least 0");
      }
      if (strategy == Strategy.BALANCED && replicas != 1) {
        throw new IllegalArgumentException(
            "balanced takes its copies from the replica budget (replicas per layer), not --replicas");
      }
    }

    public static Layout of(Strategy strategy) {
      return new Layout(strategy, 1, 0, 0);
    }

    int slots(int experts, int nodes) {
      return slotsPerNode > 0 ? slotsPerNode : (int) Math.ceil(1.125 * experts / nodes);
    }
  }

  /**
   * The router's settings that shape batching and admission (its reference.conf).
   *
   * @param maxInFlight Compute calls each router keeps in flight per node (node-max-in-flight)
   * @param maxBatchTokens largest batch per call (node-max-batch-tokens)
   * @param admissionTokens tokens in flight per router before Forward is refused
   *     (max-inflight-tokens)
   */
  public record Dispatch(int maxInFlight, int maxBatchTokens, long admissionTokens) {
    public static final Dispatch DEFAULTS = new Dispatch(2, 4096, 16384);

    public Dispatch {
      if (maxInFlight < 1 || maxBatchTokens < 1 || admissionTokens < 1) {
        throw new IllegalArgumentException(
            "max in-flight calls, max batch tokens and admission tokens must be positive");
      }
    }
  }

  /**
   * The machines the cluster runs on.
   *
   * @param nodeCores cores of each expert node machine
   * @param computeThreads compute threads of each expert node (its default: one per core)
   * @param routerCores cores of each router machine
   * @param hostCores 0: every router and node is its own machine, clients are outside; above 0:
   *     everything, clients included, shares one machine with this many cores (a local cluster; a
   *     fraction where other programs take part of them), and messages cost nothing beyond their
   *     CPU and the latency
   * @param nodeLinkGbps each expert node's network link, per direction
   * @param routerLinkGbps each router's network link, per direction
   * @param linkLatencyMicros one-way latency of a message between machines
   */
  public record Hardware(
      int nodeCores,
      int computeThreads,
      int routerCores,
      double hostCores,
      double nodeLinkGbps,
      double routerLinkGbps,
      double linkLatencyMicros) {
    public Hardware {
      if (nodeCores < 1
          || computeThreads < 1
          || routerCores < 1
          || !(hostCores >= 0)
          || Double.isInfinite(hostCores)) {
        throw new IllegalArgumentException(
            "cores and compute threads must be at least 1 (host cores 0 = none shared)");
      }
      if (!(nodeLinkGbps > 0) || !(routerLinkGbps > 0) || !(linkLatencyMicros >= 0)) {
        throw new IllegalArgumentException(
            "link bandwidths must be positive and latency non-negative");
      }
    }

    /** Separate machines: 16-core routers and nodes, 25 Gb/s links, 20 µs latency. */
    public static Hardware datacenter(int nodeCores) {
      return new Hardware(nodeCores, nodeCores, 16, 0, 25, 25, 20);
    }

    /** Everything on one machine of {@code cores} cores, as {@code arrakis up} runs it. */
    public static Hardware localHost(int cores, int computeThreads) {
      return new Hardware(cores, computeThreads, cores, cores, 1e6, 1e6, 0);
    }

    /**
     * The same, with only {@code cores} of the shared machine's cores left to the cluster (others'
     * programs take the rest).
     */
    public Hardware withHostCores(double cores) {
      if (!shared()) {
        throw new IllegalStateException("host cores apply to a shared machine");
      }
      return new Hardware(
          nodeCores,
          computeThreads,
          routerCores,
          cores,
          nodeLinkGbps,
          routerLinkGbps,
          linkLatencyMicros);
    }

    public boolean shared() {
      return hostCores > 0;
    }
  }

  /**
   * The load: expert popularity, request sizes and arrivals.
   *
   * @param skew Zipf exponent of expert popularity: the r-th most popular expert of a layer is
   *     chosen in proportion to 1/r^skew (0 = uniform)
   * @param tokens tokens per request
   * @param concurrency closed loop: callers, each with one request in flight; 0 with a rate
   * @param ratePerSecond open loop: Poisson arrivals per second; 0 with a concurrency
   * @param warmupRequests requests answered first and not counted
   * @param requests requests measured after the warm-up
   */
  public record Workload(
      double skew,
      TokenCounts tokens,
      int concurrency,
      double ratePerSecond,
      int warmupRequests,
      int requests) {
    public Workload {
      if (!(skew >= 0) || Double.isInfinite(skew)) {
        throw new IllegalArgumentException("skew must be a finite number >= 0, got " + skew);
      }
      if ((concurrency > 0) == (ratePerSecond > 0)
          || concurrency < 0
          || ratePerSecond < 0
          || Double.isNaN(ratePerSecond)) {
        throw new IllegalArgumentException(
            "give a concurrency (closed loop) or a rate (open loop), one of them");
      }
      if (warmupRequests < 0 || requests < 1) {
        throw new IllegalArgumentException(
            "requests must be at least 1 and warm-up requests at least 0");
      }
    }

    public static Workload closed(
        double skew, TokenCounts tokens, int concurrency, int warmup, int requests) {
      return new Workload(skew, tokens, concurrency, 0, warmup, requests);
    }

    public static Workload open(
        double skew, TokenCounts tokens, double rate, int warmup, int requests) {
      return new Workload(skew, tokens, 0, rate, warmup, requests);
    }

    public boolean closedLoop() {
      return concurrency > 0;
    }
  }

  public SimConfig withNodes(int nodes) {
    return new SimConfig(
        new Shape(nodes, shape.routers(), shape.experts(), shape.topK(), shape.layers()),
        layout,
        dispatch,
        hardware,
        workload,
        seed);
  }

  public SimConfig withHardware(Hardware h) {
    return new SimConfig(shape, layout, dispatch, h, workload, seed);
  }

  public SimConfig withWorkload(Workload w) {
    return new SimConfig(shape, layout, dispatch, hardware, w, seed);
  }

  public SimConfig withSeed(long s) {
    return new SimConfig(shape, layout, dispatch, hardware, workload, s);
  }
}
