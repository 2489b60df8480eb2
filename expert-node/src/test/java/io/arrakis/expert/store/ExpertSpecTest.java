package io.arrakis.expert.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.arrakis.model.placement.ExpertId;
import java.util.List;
import org.junit.jupiter.api.Test;

class ExpertSpecTest {
  static final List<Integer> LAYERS = List.of(0, 1, 3);

  @Test
  void allMeansEveryExpertOfEveryMoeLayer() {
    assertThat(ExpertSpec.parse("all", LAYERS, 4))
        .hasSize(12)
        .contains(new ExpertId(3, 3))
        .doesNotContain(new ExpertId(2, 0));
    assertThat(ExpertSpec.parse("*:*", LAYERS, 4)).hasSize(12);
  }

  @Test
  void itemsRangesAndWildcardsCombineSortedWithoutDuplicates() {
    assertThat(ExpertSpec.parse("1:2-3, 0:1, *:0, 1:3", LAYERS, 4))
        .containsExactly(
            new ExpertId(0, 0),
            new ExpertId(0, 1),
            new ExpertId(1, 0),
            new ExpertId(1, 2),
            new ExpertId(1, 3),
            new ExpertId(3, 0));
  }

  @Test
  void badItemsAreNamed() {
    assertThatThrownBy(() -> ExpertSpec.parse("0", LAYERS, 4))
        .hasMessageContaining("'0'")
        .hasMessageContaining("LAYERS:EXPERTS");
    assertThatThrownBy(() -> ExpertSpec.parse("2:0", LAYERS, 4))
        .hasMessageContaining("layer 2 is not an MoE layer");
    assertThatThrownBy(() -> ExpertSpec.parse("0:4", LAYERS, 4))
        .hasMessageContaining("expert 4 out of range");
    assertThatThrownBy(() -> ExpertSpec.parse("0:3-1", LAYERS, 4))
        .hasMessageContaining("empty range");
    assertThatThrownBy(() -> ExpertSpec.parse("0:x", LAYERS, 4))
        .hasMessageContaining("'x' is not an index");
  }

  @Test
  void trailingSeparatorsAreRefusedNotDropped() {
    assertThatThrownBy(() -> ExpertSpec.parse("0:0-3,", LAYERS, 4))
        .hasMessageContaining("bad experts item ''");
    assertThatThrownBy(() -> ExpertSpec.parse("0:1:", LAYERS, 4))
        .hasMessageContaining("bad experts item '0:1:'");
  }

  @Test
  void aHugeRangeIsRefusedAtOnceNamingItsFirstValueOutOfRange() {
    assertThatThrownBy(() -> ExpertSpec.parse("0:2-2147483647", LAYERS, 4))
        .hasMessageContaining("expert 4 out of range 0..3");
    assertThatThrownBy(() -> ExpertSpec.parse("0-2147483647:0", LAYERS, 4))
        .hasMessageContaining("is not an MoE layer");
  }
}
