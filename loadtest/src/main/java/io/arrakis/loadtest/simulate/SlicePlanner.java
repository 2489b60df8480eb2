package io.arrakis.loadtest.simulate;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A router's planning, as {@code DispatchPlanner} does it: draws each token's top-k experts and
 * gives each (token, expert) pair to one holder: a node the token already goes to, else the holder
 * with the fewest outstanding tokens at this router (ties to the one listed first), so that a token
 * crosses to a node once. One slice per node, in node order.
 */
final class SlicePlanner {
  private final ExpertRouting routing;
  private final ExpertLayout layout;

  /** Tokens sent to each node and not yet answered, per router ({@code ReplicaLoad}). */
  private final long[][] outstanding;

  private final Slice[] sliceOfNode;
  private final int[] touched;
  private final int[] picks;
  private final int[] chosen;

  SlicePlanner(ExpertRouting routing, ExpertLayout layout, int routers, int nodes, int maxTokens) {
    this.routing = routing;
    this.layout = layout;
    this.outstanding = new long[routers][nodes];
    this.sliceOfNode = new Slice[nodes];
    this.touched = new int[nodes];
    this.picks = new int[maxTokens * routing.topK()];
    this.chosen = new int[routing.topK()];
  }

  List<Slice> plan(SimRequest req, SplittableRandom random) {
    int k = routing.topK();
    routing.route(req.layer, req.tokens, random, picks);
    long[] load = outstanding[req.router];
    int used = 0;
    for (int t = 0; t < req.tokens; t++) {
      int chosenCount = 0;
      for (int j = 0; j < k; j++) {
        int expert = picks[t * k + j];
        int node = choose(layout.holders(req.layer, expert), chosenCount, load);
        Slice slice = sliceOfNode[node];
        if (slice == null) {
          slice = new Slice(req, node, k * req.tokens);
          sliceOfNode[node] = slice;
          touched[used++] = node;
        }
        if (!contains(chosen, chosenCount, node)) {
          chosen[chosenCount++] = node;
          slice.rows++;
          load[node]++; // the planner's tally for this request, then the dispatcher's count until
          // the call ends
        }
        slice.experts[slice.pairs++] = expert;
      }
    }
    Arrays.sort(touched, 0, used);
    List<Slice> out = new ArrayList<>(used);
    for (int i = 0; i < used; i++) {
      out.add(sliceOfNode[touched[i]]);
      sliceOfNode[touched[i]] = null;
    }
    return out;
  }

  /** A call to {@code node} from {@code router} with {@code rows} rows has ended. */
  void answered(int router, int node, int rows) {
    outstanding[router][node] -= rows;
  }

  private int choose(int[] holders, int chosenCount, long[] load) {
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
}
