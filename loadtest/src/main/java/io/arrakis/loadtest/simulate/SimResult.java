package io.arrakis.loadtest.simulate;

/**
 * What one simulated configuration did in its measured window.
 *
 * @param nodes expert nodes
 * @param tokensPerSecond tokens answered per second
 * @param requestsPerSecond requests answered per second
 * @param meanMillis mean latency of answered requests
 * @param p50Millis median latency
 * @param p99Millis 99th percentile latency
 * @param refused requests the routers' admission control refused (RESOURCE_EXHAUSTED)
 * @param utilisation busy fractions of the resources, 0..1
 * @param callsPerRequest Compute calls per request (fan-out after batching)
 * @param tokensPerCall rows per Compute call (batch size)
 * @param predictedBalance the placement's max ÷ mean node load under the sampled load
 * @param cpuPerRequest CPU seconds per answered request, by where it was spent
 * @param bottleneck the resource that limits throughput, in words
 * @param simulatedSeconds length of the measured window in simulated time
 * @param events events processed in the whole run
 */
record SimResult(
    int nodes,
    double tokensPerSecond,
    double requestsPerSecond,
    double meanMillis,
    double p50Millis,
    double p99Millis,
    long refused,
    Utilisation utilisation,
    double callsPerRequest,
    double tokensPerCall,
    double predictedBalance,
    CpuPerRequest cpuPerRequest,
    String bottleneck,
    double simulatedSeconds,
    long events) {

  /**
   * How busy the busiest machines, threads and links were, as fractions of their capacity.
   *
   * @param routerCpu the busiest router's CPU
   * @param hottestNode the busiest expert node's compute threads
   * @param hottestNodeId which node that is
   * @param meanNode expert nodes' compute threads, averaged over nodes
   * @param inFlightSlots the busiest (router, node) pair's calls in flight, as a fraction of
   *     node-max-in-flight: at 100% the node gets no more calls however idle its threads
   * @param routerLink the busiest direction of the busiest router's link
   * @param nodeLink the busiest direction of the busiest expert node's link
   * @param hostCpu the shared machine's CPU (NaN when routers and nodes are separate machines)
   */
  public record Utilisation(
      double routerCpu,
      double hottestNode,
      String hottestNodeId,
      double meanNode,
      double inFlightSlots,
      double routerLink,
      double nodeLink,
      double hostCpu) {}

  /** CPU seconds per answered request at the routers, the expert nodes and the clients. */
  public record CpuPerRequest(double router, double node, double client) {
    public double total() {
      return router + node + client;
    }
  }
}
