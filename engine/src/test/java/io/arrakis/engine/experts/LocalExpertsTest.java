package io.arrakis.engine.experts;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.model.kernel.ExpertKernel;
import io.arrakis.model.kernel.ExpertWork;
import java.util.List;
import org.junit.jupiter.api.Test;

class LocalExpertsTest {
  private static final ExpertKernel A = ExpertKernel.fromHf(new float[4], new float[4], new float[4], 2, 2);
  private static final ExpertKernel B = ExpertKernel.fromHf(new float[4], new float[4], new float[4], 2, 2);

  @Test
  void expertsWithFewRowsRunRowByRowInTheSameOrderAndLargerOnesWhole() {
    int[] many = {0, 1, 2, 3, 4, 5};
    List<ExpertWork> out = LocalExperts.rowByRow(List.of(
        new ExpertWork(A, new int[] {3, 7}, new float[] {0.5f, 0.25f}),
        new ExpertWork(B, many, new float[6])));

    assertThat(out).hasSize(3);
    assertThat(out.get(0).kernel()).isSameAs(A);
    assertThat(out.get(0).rows()).containsExactly(3);
    assertThat(out.get(0).weights()).containsExactly(0.5f);
    assertThat(out.get(1).rows()).containsExactly(7);
    assertThat(out.get(1).weights()).containsExactly(0.25f);
    assertThat(out.get(2).rows()).isSameAs(many);
  }
}
