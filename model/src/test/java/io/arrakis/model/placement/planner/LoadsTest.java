package io.arrakis.model.placement.planner;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class LoadsTest {

  @Test
  void layersFormIsRowPerLayer() {
    Loads l = Loads.parse("{\"layers\": [[1, 2, 3], [4, 5, 6.5]]}");
    assertThat(l.layers()).containsExactly(0, 1);
    assertThat(l.numExperts()).isEqualTo(3);
    assertThat(l.tokens(1)).containsExactly(4, 5, 6.5);
    assertThat(l.total(0)).isEqualTo(6);
  }

  @Test
  void layersMayBeKeyedByLayerIdForModelsWhoseMoeLayersAreNotTheFirst() {
    Loads l = Loads.parse("{\"layers\": {\"3\": [1, 0], \"1\": [0, 2]}}");
    assertThat(l.layers()).containsExactly(1, 3);
    assertThat(l.tokens(0)).containsExactly(0, 2);
    assertThat(l.tokens(1)).containsExactly(1, 0);
  }

  @Test
  void routerStatsExportIsAcceptedWithUnlistedExpertsAtZero() {
    String stats =
        """
        {"sinceUnixMs": "1", "untilUnixMs": "2",
         "experts": [{"expert": {"layer": 1, "expert": 2}, "tokens": "40"},
                     {"expert": {"layer": 1}, "tokens": 7},
                     {"expert": {"expert": 1}, "tokens": "3"}],
         "nodes": [{"nodeId": "expert-0", "tokens": "50"}]}""";
    Loads l = Loads.parse(stats);
    // Protobuf JSON leaves out zero fields: {"expert": {"layer": 1}} is expert 1:0.
    assertThat(l.layers()).containsExactly(0, 1);
    assertThat(l.numExperts()).isEqualTo(3);
    assertThat(l.tokens(0)).containsExactly(0, 3, 0);
    assertThat(l.tokens(1)).containsExactly(7, 0, 40);

    Loads wider = Loads.parse(stats, OptionalInt.of(8));
    assertThat(wider.numExperts()).isEqualTo(8);
    assertThat(wider.tokens(1, 7)).isZero();
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      quoteCharacter = '~',
      value = {
        "nope|not valid JSON",
        "[]|must be a JSON object",
        "{}|need 'layers'",
        "{\"layers\": [], \"experts\": []}|both 'layers' and 'experts'",
        "{\"layers\": 3}|'layers' must be an array",
        "{\"layers\": []}|'layers' is empty",
        "{\"layers\": [[1, 2], [3]]}|layers[1] has 1 experts, expected 2",
        "{\"layers\": [[1, -2]]}|layers[0][1] must be a finite non-negative",
        "{\"layers\": [[1, \"x\"]]}|layers[0][1] must be a non-negative number",
        "{\"layers\": [[]]}|at least one expert",
        "{\"layers\": {\"a\": [1]}}|layers key 'a' must be a non-negative layer id",
        "{\"experts\": []}|'experts' is empty",
        "{\"experts\": [{\"expert\": {\"layer\": -1, \"expert\": 0}, \"tokens\": 1}]}|experts[0].expert.layer must be a non-negative integer",
        "{\"experts\": [{\"expert\": {\"layer\": 0, \"expert\": 0}, \"tokens\": -1}]}|experts[0].tokens must be a finite non-negative",
        "{\"experts\": [{\"expert\": {\"layer\": 0, \"expert\": 0}, \"tokns\": 1}]}|experts[0] has unknown field 'tokns'",
        "{\"experts\": [{\"expert\": 5}]}|experts[0].expert must be an object",
        "{\"experts\": [{\"expert\": {\"expert\": 1}}, {\"expert\": {\"expert\": 1}}]}|experts[1] repeats expert 0:1 (already experts[0])",
      })
  void malformedLoadsAreRefusedNamingTheField(String json, String message) {
    assertThatThrownBy(() -> Loads.parse(json))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(message);
  }

  @Test
  void explicitExpertCountIsChecked() {
    assertThatThrownBy(() -> Loads.parse("{\"layers\": [[1, 2]]}", OptionalInt.of(3)))
        .hasMessageContaining("layers[0] has 2 experts, expected 3");
    assertThatThrownBy(
            () ->
                Loads.parse(
                    "{\"experts\": [{\"expert\": {\"expert\": 4}, \"tokens\": 1}]}",
                    OptionalInt.of(4)))
        .hasMessageContaining("experts[0].expert.expert is 4, outside the model's 4 experts");
  }

  @Test
  void ofCopiesAndChecks() {
    double[][] t = {{1, 2}};
    Loads l = Loads.of(List.of(0), t);
    t[0][0] = 99;
    assertThat(l.tokens(0, 0)).isEqualTo(1);
    assertThatThrownBy(() -> Loads.of(List.of(1, 0), new double[][] {{1}, {1}}))
        .hasMessageContaining("increasing");
    assertThatThrownBy(() -> Loads.of(List.of(0), new double[][] {{Double.NaN}}))
        .hasMessageContaining("expert 0:0");
  }
}
