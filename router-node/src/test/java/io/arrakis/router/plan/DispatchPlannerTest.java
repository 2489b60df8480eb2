package io.arrakis.router.plan;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import io.arrakis.model.gating.Routing;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.Strategies;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.assertj.core.api.Assertions;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;

class DispatchPlannerTest {
  static final int D = 4;

  @RepeatedTest(20)
  void everyTokenGoesToANodeOncePerLayerCarryingAllItsPairsThere() {
    Random rnd = new Random();
    int experts = 8;
    int k = 1 + rnd.nextInt(4);
    int tokens = 1 + rnd.nextInt(40);
    Placement placement =
        Strategies.place(Strategies.Kind.ROUND_ROBIN, 3, 1 + rnd.nextInt(3), List.of(0), experts);
    Routing routing = randomRouting(rnd, tokens, k, experts);
    List<NodeSlice> slices =
        new DispatchPlanner(placement.holdersByExpert(), new ReplicaLoad(), new NodeHealth())
            .plan(0, routing, rows(tokens), D);

    Map<Integer, Integer> pairsSeen = new HashMap<>();
    for (NodeSlice s : slices) {
      assertThat(s.tokens()).isSorted().doesNotHaveDuplicates();
      for (NodeSlice.ExpertRows e : s.experts()) {
        assertThat(placement.node(s.nodeId()).experts()).contains(new ExpertId(0, e.expert()));
        for (int i = 0; i < e.rows().length; i++) {
          int token = s.tokens()[e.rows()[i]];
          int rank = rankOf(routing, token, e.expert());
          assertThat(e.weights()[i]).isEqualTo(routing.weight(token, rank));
          pairsSeen.merge(token, 1, Integer::sum);
        }
      }
      // the slice's bytes are its tokens' rows, in order
      FloatBuffer b =
          s.rows().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
      for (int i = 0; i < s.size(); i++) {
        assertThat(b.get(i * D)).isEqualTo((float) s.tokens()[i]);
      }
    }
    for (int t = 0; t < tokens; t++) {
      assertThat(pairsSeen.get(t)).as("pairs of token %d", t).isEqualTo(k);
    }
  }

  @Test
  void aTokenWhoseExpertsShareANodeCrossesOnce() {
    Placement placement =
        Strategies.place(Strategies.Kind.CONTIGUOUS, 2, 1, List.of(0), 4); // 0,1 | 2,3
    Routing routing = new Routing(1, 2, new int[] {0, 1}, new float[] {0.6f, 0.4f});
    List<NodeSlice> slices =
        new DispatchPlanner(placement.holdersByExpert(), new ReplicaLoad(), new NodeHealth())
            .plan(0, routing, rows(1), D);
    assertThat(slices).hasSize(1);
    assertThat(slices.get(0).tokens()).containsExactly(0);
    assertThat(slices.get(0).experts()).hasSize(2);
  }

  @Test
  void replicasArePickedByLeastOutstandingTokens() {
    Placement placement =
        Strategies.place(Strategies.Kind.ROUND_ROBIN, 2, 2, List.of(0), 2); // both nodes hold both
    ReplicaLoad load = new ReplicaLoad();
    load.add("expert-0", 100);
    Routing routing = new Routing(1, 1, new int[] {1}, new float[] {1f});
    List<NodeSlice> slices =
        new DispatchPlanner(placement.holdersByExpert(), load, new NodeHealth())
            .plan(0, routing, rows(1), D);
    assertThat(slices).extracting(NodeSlice::nodeId).containsExactly("expert-1");
  }

  @Test
  void oneRequestSpreadsOverReplicasAsItFillsThem() {
    Placement placement = Strategies.place(Strategies.Kind.ROUND_ROBIN, 2, 2, List.of(0), 1);
    int tokens = 10;
    int[] ids = new int[tokens];
    float[] w = new float[tokens];
    Arrays.fill(w, 1f);
    List<NodeSlice> slices =
        new DispatchPlanner(placement.holdersByExpert(), new ReplicaLoad(), new NodeHealth())
            .plan(0, new Routing(tokens, 1, ids, w), rows(tokens), D);
    assertThat(slices).extracting(NodeSlice::size).containsExactly(5, 5);
  }

  @Test
  void aRetryGoesToOtherReplicasOnly() {
    Placement placement = Strategies.place(Strategies.Kind.ROUND_ROBIN, 3, 2, List.of(0), 6);
    Random rnd = new Random(3);
    Routing routing = randomRouting(rnd, 20, 2, 6);
    DispatchPlanner planner =
        new DispatchPlanner(placement.holdersByExpert(), new ReplicaLoad(), new NodeHealth());
    List<NodeSlice> first = planner.plan(0, routing, rows(20), D);
    NodeSlice failed = first.get(0);
    List<NodeSlice> retry = planner.replan(failed, failed.nodeId(), rows(20), D);
    assertThat(retry).extracting(NodeSlice::nodeId).doesNotContain(failed.nodeId());
    assertThat(retry).allSatisfy(s -> assertThat(s.attempt()).isEqualTo(1));
    int pairs =
        retry.stream().flatMap(s -> s.experts().stream()).mapToInt(e -> e.rows().length).sum();
    assertThat(pairs).isEqualTo(failed.experts().stream().mapToInt(e -> e.rows().length).sum());
  }

  @Test
  void nodesOutOfRotationGetNoWorkWhileAReplicaInRotationExists() {
    Placement placement =
        Strategies.place(Strategies.Kind.ROUND_ROBIN, 2, 2, List.of(0), 4); // both hold all
    NodeHealth health = new NodeHealth();
    health.markDown("expert-1");
    ReplicaLoad load = new ReplicaLoad();
    load.add("expert-0", 1_000); // busier, but the only one in rotation
    DispatchPlanner planner = new DispatchPlanner(placement.holdersByExpert(), load, health);
    assertThat(
            planner.plan(0, new Routing(2, 1, new int[] {1, 2}, new float[] {1f, 1f}), rows(2), D))
        .extracting(NodeSlice::nodeId)
        .containsExactly("expert-0");
  }

  /**
   * NodeHealth's rule: nodes out of rotation are avoided only "while a replica in rotation exists".
   */
  @Test
  void whenNoReplicaIsInRotationTheLeastLoadedOneIsTriedAnyway() {
    Placement placement = Strategies.place(Strategies.Kind.ROUND_ROBIN, 3, 2, List.of(0), 3);
    NodeHealth health = new NodeHealth();
    placement.nodes().forEach(n -> health.markDown(n.id()));
    ReplicaLoad load = new ReplicaLoad();
    List<String> holders = placement.holders(new ExpertId(0, 1));
    load.add(holders.get(0), 50);
    DispatchPlanner planner = new DispatchPlanner(placement.holdersByExpert(), load, health);
    assertThat(planner.plan(0, new Routing(1, 1, new int[] {1}, new float[] {1f}), rows(1), D))
        .extracting(NodeSlice::nodeId)
        .containsExactly(holders.get(1));
  }

  @Test
  void aRetryWithNoOtherHolderNamesTheExperts() {
    Placement placement =
        Strategies.place(Strategies.Kind.CONTIGUOUS, 2, 1, List.of(0), 4); // 0,1 | 2,3
    DispatchPlanner planner =
        new DispatchPlanner(placement.holdersByExpert(), new ReplicaLoad(), new NodeHealth());
    List<NodeSlice> first =
        planner.plan(0, new Routing(2, 1, new int[] {2, 3}, new float[] {1f, 1f}), rows(2), D);
    Assertions.assertThatThrownBy(() -> planner.replan(first.get(0), "expert-1", rows(2), D))
        .isInstanceOf(NoReplicaException.class)
        .hasMessage("no serving expert node holds layer 0 experts 2, 3");
  }

  static int rankOf(Routing routing, int token, int expert) {
    for (int r = 0; r < routing.k(); r++) {
      if (routing.expert(token, r) == expert) {
        return r;
      }
    }
    throw new AssertionError("token " + token + " did not choose expert " + expert);
  }

  static Routing randomRouting(Random rnd, int tokens, int k, int experts) {
    int[] ids = new int[tokens * k];
    float[] w = new float[tokens * k];
    for (int t = 0; t < tokens; t++) {
      List<Integer> all = new ArrayList<>();
      for (int e = 0; e < experts; e++) {
        all.add(e);
      }
      Collections.shuffle(all, rnd);
      for (int r = 0; r < k; r++) {
        ids[t * k + r] = all.get(r);
        w[t * k + r] = rnd.nextFloat();
      }
    }
    return new Routing(tokens, k, ids, w);
  }

  /** Row t is filled with the value t. */
  static ByteString rows(int tokens) {
    ByteBuffer b = ByteBuffer.allocate(tokens * D * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (int t = 0; t < tokens; t++) {
      for (int j = 0; j < D; j++) {
        b.putFloat(t);
      }
    }
    return ByteString.copyFrom(b.array());
  }
}
