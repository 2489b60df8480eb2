package io.arrakis.loadtest.simulate;

/** The part of a request one node computes: its tokens (rows) and their token-expert pairs. */
final class Slice {
  final SimRequest request;
  final int node;

  /** The expert of each token-expert pair, [0, pairs). */
  final int[] experts;

  int pairs;
  int rows;

  Slice(SimRequest request, int node, int capacity) {
    this.request = request;
    this.node = node;
    this.experts = new int[capacity];
  }
}
