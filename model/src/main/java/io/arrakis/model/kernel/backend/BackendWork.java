package io.arrakis.model.kernel.backend;

/**
 * Rows of a batch that one expert processes, with the gate weight of each.
 *
 * @param expert the expert, loaded by the backend that computes the batch
 * @param rows row indices into the batch, each at most once
 * @param weights gate weight per row, same length as rows
 */
public record BackendWork(BackendExpert expert, int[] rows, float[] weights) {
  public BackendWork {
    if (rows.length != weights.length) {
      throw new IllegalArgumentException(
          "rows and weights differ in length: " + rows.length + " vs " + weights.length);
    }
  }
}
