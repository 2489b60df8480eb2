package io.arrakis.model.placement;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class PlacementTest {
  static final List<Integer> LAYERS = List.of(0, 1);

  @ParameterizedTest
  @CsvSource({
    "CONTIGUOUS,3,1",
    "CONTIGUOUS,4,2",
    "ROUND_ROBIN,3,1",
    "ROUND_ROBIN,3,3",
    "ROUND_ROBIN,5,2"
  })
  void strategiesHoldEveryExpertOnExactlyReplicasDistinctNodes(
      Strategies.Kind kind, int nodes, int replicas) {
    Placement p = Strategies.place(kind, nodes, replicas, LAYERS, 8);
    p.checkCovers(LAYERS, 8);
    Map<ExpertId, List<String>> holders = p.holdersByExpert();
    assertThat(holders).hasSize(16);
    holders.values().forEach(h -> assertThat(h).hasSize(replicas).doesNotHaveDuplicates());
  }

  @Test
  void contiguousGivesConsecutiveBlocksAndRoundRobinDealsOut() {
    Placement c = Strategies.place(Strategies.Kind.CONTIGUOUS, 2, 1, List.of(0), 4);
    assertThat(c.node("expert-0").experts())
        .containsExactly(new ExpertId(0, 0), new ExpertId(0, 1));
    Placement r = Strategies.place(Strategies.Kind.ROUND_ROBIN, 2, 1, List.of(0), 4);
    assertThat(r.node("expert-0").experts())
        .containsExactly(new ExpertId(0, 0), new ExpertId(0, 2));
  }

  @Test
  void jsonRoundTrips() {
    Placement p = Strategies.place(Strategies.Kind.ROUND_ROBIN, 3, 2, LAYERS, 8);
    Placement withAddress =
        new Placement(
            7,
            List.of(
                p.nodes().get(0).withAddress("127.0.0.1:50061"),
                p.nodes().get(1),
                p.nodes().get(2)));
    assertThat(PlacementJson.parse(PlacementJson.write(withAddress))).isEqualTo(withAddress);
  }

  @Test
  void aPlacementThatLeavesAnExpertOutIsRefusedNamingIt() {
    Placement p =
        PlacementJson.parse(
            """
        {"version": 3, "nodes": [{"id": "a", "experts": [{"layer": 0, "expert": 0}, {"layer": 0, "expert": 1}]}]}""");
    assertThatThrownBy(() -> p.checkCovers(List.of(0), 3))
        .hasMessageContaining("no node holds expert 0:2");
  }

  @Test
  void expertsOutsideTheModelAreRefused() {
    Placement p =
        PlacementJson.parse(
            """
        {"version": 1, "nodes": [{"id": "a", "experts": [{"layer": 0, "expert": 0}, {"layer": 5, "expert": 0}, {"layer": 0, "expert": 9}]}]}""");
    assertThatThrownBy(() -> p.checkCovers(List.of(0), 1))
        .hasMessageContaining("layer 5, which is not an MoE layer")
        .hasMessageContaining("expert 0:9, out of range");
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      quoteCharacter = '~',
      value = {
        "not json|not valid JSON",
        "[]|must be a JSON object",
        "{\"nodes\": []}|'version' must be a non-negative integer",
        "{\"version\": 1}|'nodes' must be an array",
        "{\"version\": 1, \"nodes\": [{\"experts\": []}]}|nodes[0].id must be a non-empty string",
        "{\"version\": 1, \"nodes\": [{\"id\": \"a\", \"address\": 5, \"experts\": []}]}|nodes[0].address must be a string",
        "{\"version\": 1, \"nodes\": [{\"id\": \"a\", \"experts\": [{\"layer\": 0}]}]}|nodes[0].experts[0].expert must be",
        "{\"version\": 1, \"nodes\": [{\"id\": \"a\", \"experts\": []}, {\"id\": \"a\", \"experts\": []}]}|lists node 'a' twice",
      })
  void malformedPlacementsAreRefusedNamingTheField(String json, String message) {
    assertThatThrownBy(() -> PlacementJson.parse(json))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(message);
  }
}
