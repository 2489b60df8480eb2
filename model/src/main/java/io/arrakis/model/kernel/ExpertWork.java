package io.arrakis.model.kernel;

/**
 * Rows of a batch that one expert processes, with the gate weight of each.
 *
 * @param kernel the expert
 * @param rows row indices into the batch, each at most once
 * @param weights gate weight per row, same length as rows
 */
public record ExpertWork(ExpertKernel kernel, int[] rows, float[] weights) {
  public ExpertWork {
    if (rows.length != weights.length) {
      throw new IllegalArgumentException(
          "rows and weights differ in length: " + rows.length + " vs " + weights.length);
    }
  }
}
