package io.arrakis.model.kernel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/** The direct CBLAS calls: row-major products on ND4J's buffers, and only on buffers laid out for them. */
class BlasTest {

  @Test
  void gemmAndGemvComputeRowMajorProducts() {
    INDArray a = Nd4j.createFromArray(new float[][] {{1, 2, 3}, {4, 5, 6}});
    INDArray b = Nd4j.createFromArray(new float[][] {{1, 0}, {0, 1}, {2, -1}});
    INDArray c = Nd4j.create(DataType.FLOAT, 2, 2);
    INDArray row = Nd4j.create(DataType.FLOAT, 1, 2);

    Blas.gemm(2, 2, 3, Blas.floats(a), 3, Blas.floats(b), Blas.floats(c));
    Blas.gemv(3, 2, Blas.floats(b), Blas.floats(a.get(NDArrayIndex.interval(1, 2), NDArrayIndex.all()).dup()),
        Blas.floats(row));

    assertThat(c.toFloatMatrix()).isDeepEqualTo(new float[][] {{7, -1}, {16, -1}});
    assertThat(row.toFloatVector()).containsExactly(16, -1);
  }

  /** The down product reads the gated half of each [gate | up] row: the first k columns of a wider matrix. */
  @Test
  void gemmReadsTheLeadingColumnsOfRowsLdaApart() {
    INDArray wide = Nd4j.createFromArray(new float[][] {{1, 2, 3, 99, 99}, {4, 5, 6, -99, 99}});
    INDArray b = Nd4j.createFromArray(new float[][] {{1, 0}, {0, 1}, {2, -1}});
    INDArray c = Nd4j.create(DataType.FLOAT, 2, 2);

    Blas.gemm(2, 2, 3, Blas.floats(wide), 5, Blas.floats(b), Blas.floats(c));

    assertThat(c.toFloatMatrix()).isDeepEqualTo(new float[][] {{7, -1}, {16, -1}});
  }

  @Test
  void aViewOfLeadingRowsIsUsedInPlace() {
    INDArray m = Nd4j.create(DataType.FLOAT, 8, 4);
    INDArray oneRow = m.get(NDArrayIndex.interval(0, 1), NDArrayIndex.all());
    INDArray threeRows = m.get(NDArrayIndex.interval(0, 3), NDArrayIndex.all());

    FloatPointer whole = Blas.floats(m);

    assertThat(Blas.floats(oneRow).address()).isEqualTo(whole.address());
    assertThat(Blas.floats(threeRows).address()).isEqualTo(whole.address());
  }

  @Test
  void refusesArraysNotLaidOutAsDenseRowMajorFloatFromTheBufferStart() {
    INDArray m = Nd4j.create(DataType.FLOAT, 4, 4);

    assertThatThrownBy(() -> Blas.floats(Nd4j.create(DataType.DOUBLE, 2, 2))).hasMessageContaining("dense c-order FLOAT");
    assertThatThrownBy(() -> Blas.floats(m.transpose())).hasMessageContaining("dense c-order FLOAT");
    assertThatThrownBy(() -> Blas.floats(m.get(NDArrayIndex.interval(1, 3), NDArrayIndex.all())))
        .hasMessageContaining("dense c-order FLOAT");
    assertThatThrownBy(() -> Blas.floats(m.get(NDArrayIndex.all(), NDArrayIndex.interval(0, 2))))
        .hasMessageContaining("dense c-order FLOAT");
  }

  @Test
  void describeNamesTheOpenBlasLibraryInUse() {
    assertThat(Blas.describe()).containsIgnoringCase("openblas");
  }
}
