package io.arrakis.loadtest.simulate;

/** One simulated Forward call: who sent it, where it went, how many slices are still out. */
final class SimRequest {
  final int client;
  final int router;
  final int layer;
  final int tokens;
  final double start;
  int pending;

  SimRequest(int client, int router, int layer, int tokens, double start) {
    this.client = client;
    this.router = router;
    this.layer = layer;
    this.tokens = tokens;
    this.start = start;
  }
}
