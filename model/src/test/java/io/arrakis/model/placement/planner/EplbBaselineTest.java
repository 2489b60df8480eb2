package io.arrakis.model.placement.planner;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** EPLB's global policy on cases worked by hand from eplb.py's code. */
class EplbBaselineTest {

  @Test
  void replicatesTheExpertWithTheLargestLoadPerReplicaThenPacksHeaviestFirst() {
    // weights 10, 6, 3, 1; 6 replicas on 3 nodes × 2 slots.
    // replicate: 10 → expert 0 (now 5 each), then 6 → expert 1 (3 each): counts 2, 2, 1, 1;
    // physical replicas: p0=e0, p1=e1, p2=e2, p3=e3, p4=e0, p5=e1, loads 5, 3, 3, 1, 5, 3.
    // pack heaviest first (stable): p0→n0 (5), p4→n1 (5), p1→n2 (3), p2→n2 (6),
    // p5→n0 (8, first of the lightest with room), p3→n1 (6).
    EplbBaseline.Layer l = EplbBaseline.layer(0, new double[] {10, 6, 3, 1}, 3, 2, 6);
    assertThat(l.physicalExpert()).containsExactly(0, 1, 2, 3, 0, 1);
    assertThat(l.physicalNode()).containsExactly(0, 2, 2, 1, 1, 0);
    assertThat(l.nodeLoad()).containsExactly(8, 6, 6);
    assertThat(l.ratio()).isCloseTo(8 / (20 / 3.0), within(1e-12));
    assertThat(l.duplicates()).isZero();
  }

  @Test
  void mayPutTwoReplicasOfOneExpertOnOneNodeWhichThePlacementViewMerges() {
    // weights 100, 1, 1, 1 on 2 nodes × 3 slots: expert 0 gets all extra replicas (3 × 33.3);
    // packing: p0→n0, p4→n1, p5→n0 (ties go to the first node), p1, p2 → n1, p3 → n0 (n1 full).
    Loads loads = Loads.of(List.of(0), new double[][] {{100, 1, 1, 1}});
    EplbBaseline.Result r = EplbBaseline.run(loads, 2, 3, 6);
    EplbBaseline.Layer l = r.layers().get(0);
    assertThat(l.duplicates()).isEqualTo(1);
    assertThat(r.balanceAsIs()).isCloseTo((200 / 3.0 + 1) / 51.5, within(1e-12));
    // As a placement expert 0 is on both nodes, 50 tokens each: max 52 (n1 also holds 1 and 2).
    assertThat(Balance.of(r.placement(), loads).mean()).isCloseTo(52 / 51.5, within(1e-12));
    // Balanced spends the replicas better: expert 0 on both nodes, and expert 1 too, so that
    // each node carries 50 + 1 + 0.5 = the mean, 51.5.
    Plan p = Planner.plan(loads, 2, 3, Strategy.BALANCED, Optional.empty());
    assertThat(p.balance().mean()).isCloseTo(1.0, within(1e-12));
  }
}
