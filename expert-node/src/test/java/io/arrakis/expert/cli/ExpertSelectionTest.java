package io.arrakis.expert.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.arrakis.model.placement.ExpertId;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ExpertSelectionTest {
  static final List<Integer> LAYERS = List.of(0, 1);

  static final String PLACEMENT =
      """
      {"version": 3, "nodes": [
        {"id": "expert-0", "experts": [{"layer": 0, "expert": 0}, {"layer": 1, "expert": 5}]},
        {"id": "expert-1", "address": "10.0.0.2:50061", "experts": [{"layer": 0, "expert": 1}]}
      ]}
      """;

  @Test
  void neitherOptionMeansEveryExpert() throws Exception {
    assertThat(new ExpertSelection(null, null).resolve("expert-0", LAYERS, 8)).hasSize(16);
  }

  @Test
  void specIsParsed() throws Exception {
    assertThat(new ExpertSelection("1:2-3", null).resolve("expert-0", LAYERS, 8))
        .containsExactly(new ExpertId(1, 2), new ExpertId(1, 3));
  }

  @Test
  void placementGivesTheExpertsListedForTheNode(@TempDir Path dir) throws Exception {
    Path file = Files.writeString(dir.resolve("placement.json"), PLACEMENT);
    assertThat(new ExpertSelection(null, file).resolve("expert-0", LAYERS, 8))
        .containsExactly(new ExpertId(0, 0), new ExpertId(1, 5));
    assertThat(new ExpertSelection(null, file).resolve("expert-1", LAYERS, 8))
        .containsExactly(new ExpertId(0, 1));
  }

  @Test
  void bothOptionsAreRefused() {
    assertThatThrownBy(() -> new ExpertSelection("all", Path.of("p.json")))
        .hasMessage("give --experts or --placement, not both");
  }

  @Test
  void placementErrorsNameTheFileAndTheNode(@TempDir Path dir) throws Exception {
    Path file = Files.writeString(dir.resolve("placement.json"), PLACEMENT);
    assertThatThrownBy(() -> new ExpertSelection(null, file).resolve("expert-9", LAYERS, 8))
        .hasMessageContaining(file.toString())
        .hasMessageContaining("version 3")
        .hasMessageContaining("no node 'expert-9'")
        .hasMessageContaining("[expert-0, expert-1]");
    assertThatThrownBy(
            () ->
                new ExpertSelection(null, dir.resolve("nope.json")).resolve("expert-0", LAYERS, 8))
        .hasMessage("placement file " + dir.resolve("nope.json") + " does not exist");
    assertThatThrownBy(() -> new ExpertSelection(null, file).resolve("expert-0", List.of(0), 8))
        .hasMessageContaining("node 'expert-0' holds expert 1:5, but layer 1 is not an MoE layer");
    assertThatThrownBy(() -> new ExpertSelection(null, file).resolve("expert-0", LAYERS, 4))
        .hasMessageContaining("holds expert 1:5, but the model's experts are 0..3");
    Path broken =
        Files.writeString(dir.resolve("broken.json"), "{\"version\": 1, \"nodes\": [{\"id\": 7}]}");
    assertThatThrownBy(() -> new ExpertSelection(null, broken).resolve("expert-0", LAYERS, 8))
        .hasMessageContaining(broken.toString())
        .hasMessageContaining("nodes[0].id");
  }
}
