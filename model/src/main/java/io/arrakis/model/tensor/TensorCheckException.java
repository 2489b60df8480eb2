package io.arrakis.model.tensor;

/**
 * A wire tensor that fails a check; {@link #tooLarge()} tells a size limit from a malformed value.
 */
public class TensorCheckException extends Exception {
  private final boolean tooLarge;

  public TensorCheckException(String message, boolean tooLarge) {
    super(message);
    this.tooLarge = tooLarge;
  }

  /** True when the tensor is well-formed but over a configured limit. */
  public boolean tooLarge() {
    return tooLarge;
  }
}
