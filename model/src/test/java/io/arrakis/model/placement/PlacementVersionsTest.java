package io.arrakis.model.placement;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Versions stay where every tool reads them exactly, and no single placement can use up the ones
 * left.
 */
class PlacementVersionsTest {
  @Test
  void versionsOutsideZeroTo2Pow53Minus1AreRefusedWhereverAPlacementIsMade() {
    assertThat(new Placement(PlacementVersions.MAX, List.of()).version())
        .isEqualTo(9_007_199_254_740_991L);
    assertThatThrownBy(() -> new Placement(Long.MAX_VALUE, List.of()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("placement version 9223372036854775807 is out of range")
        .hasMessageContaining("2^53 - 1");
    assertThatThrownBy(() -> new Placement(-1, List.of())).hasMessageContaining("out of range");
    assertThatThrownBy(
            () -> PlacementJson.parse("{\"version\": 9223372036854775807, \"nodes\": []}"))
        .hasMessageContaining("'version' must be a non-negative integer, at most 9007199254740991");
    assertThatThrownBy(() -> PlacementJson.parse("{\"version\": 9007199254740992, \"nodes\": []}"))
        .hasMessageContaining("'version'");
  }

  @Test
  void aRolloutMovesTheVersionAheadByOneTo2Pow32() {
    assertThat(PlacementVersions.refusal(7, 8)).isEmpty();
    assertThat(PlacementVersions.refusal(7, 7 + PlacementVersions.MAX_STEP)).isEmpty();
    assertThat(PlacementVersions.refusal(7, 7))
        .get()
        .asString()
        .contains("not newer than the current version 7");
    assertThat(PlacementVersions.refusal(7, 3)).get().asString().contains("not newer");
    assertThat(PlacementVersions.refusal(7, 8 + PlacementVersions.MAX_STEP))
        .get()
        .asString()
        .contains(
            "more than 4294967296 (2^32) ahead of the current version 7",
            "may be up to 4294967303");
    assertThat(PlacementVersions.refusal(1, PlacementVersions.MAX)).isPresent();
    // the ceiling is out of reach of any one placement: more than two million rollouts away from 0
    assertThat(PlacementVersions.MAX / PlacementVersions.MAX_STEP).isGreaterThan(2_000_000);
  }
}
