package io.arrakis.model.placement.planner;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.placement.Placement;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class BalanceTest {

  private static Placement.Node node(String id, int... layerExpertPairs) {
    List<ExpertId> ids = new ArrayList<>();
    for (int i = 0; i < layerExpertPairs.length; i += 2) {
      ids.add(new ExpertId(layerExpertPairs[i], layerExpertPairs[i + 1]));
    }
    return new Placement.Node(id, null, ids);
  }

  @Test
  void loadOfAReplicatedExpertSplitsEvenlyOverItsHolders() {
    // Layer 0: expert 0 (60 tokens) on a and b, expert 1 (30) on b, expert 2 (10) on c.
    // a = 30, b = 30 + 30 = 60, c = 10; mean 100/3; max/mean = 1.8.
    // Layer 1: all 90 tokens of expert 0 on c: 90 / 30 = 3.
    Placement p =
        new Placement(
            1,
            List.of(
                node("a", 0, 0, 1, 1), node("b", 0, 0, 0, 1, 1, 1), node("c", 0, 2, 1, 0, 1, 1)));
    Loads loads = Loads.of(List.of(0, 1), new double[][] {{60, 30, 10}, {90, 0, 0}});
    Balance b = Balance.of(p, loads);
    assertThat(b.layers()).hasSize(2);
    assertThat(b.layers().get(0).maxNodeLoad()).isEqualTo(60);
    assertThat(b.layers().get(0).meanNodeLoad()).isCloseTo(100 / 3.0, within(1e-12));
    assertThat(b.layers().get(0).ratio()).isCloseTo(1.8, within(1e-12));
    assertThat(b.layers().get(1).ratio()).isCloseTo(3.0, within(1e-12));
    assertThat(b.mean()).isCloseTo(2.4, within(1e-12));
    assertThat(b.worst()).isCloseTo(3.0, within(1e-12));
  }

  @Test
  void aLayerWithoutTokensCountsAsBalanced() {
    Placement p = new Placement(1, List.of(node("a", 0, 0), node("b", 0, 1)));
    assertThat(Balance.of(p, Loads.of(List.of(0), new double[][] {{0, 0}})).mean()).isEqualTo(1.0);
  }

  @Test
  void anExpertWithTokensButNoHolderIsNamed() {
    Placement p = new Placement(4, List.of(node("a", 0, 0)));
    Loads loads = Loads.of(List.of(0), new double[][] {{1, 5}});
    assertThatThrownBy(() -> Balance.of(p, loads))
        .hasMessageContaining("holds no replica of expert 0:1");
    assertThat(Balance.ofIfCovers(p, loads)).isEmpty();
    // An expert that carried nothing may be missing from the balance's point of view.
    assertThat(Balance.ofIfCovers(p, Loads.of(List.of(0), new double[][] {{1, 0}}))).isPresent();
  }

  @Test
  void lowerBoundCountsTheHotExpertAndTheCompanyItMustKeep() {
    // 2 nodes × 2 slots, 4 experts, no spare: every node holds 2 experts; expert 0 (10 tokens)
    // sits with at least the lightest other (1): bound 11, mean 8.
    Loads loads = Loads.of(List.of(0), new double[][] {{10, 4, 1, 1}});
    assertThat(Balance.lowerBound(loads, 2, 2, 4).layers().get(0).maxNodeLoad()).isEqualTo(11);
    // With 2 spare replicas expert 0 can be split in two: pieces of 5, bound = mean 8.
    assertThat(Balance.lowerBound(loads, 2, 3, 6).layers().get(0).maxNodeLoad()).isEqualTo(8);
  }
}
