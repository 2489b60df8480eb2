package io.arrakis.model.kernel.cuda;

/**
 * A CUDA, cuBLAS or NVRTC call that returned an error; the message names the call and the error.
 */
final class CudaException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final int code;

  CudaException(String message, int code) {
    super(message);
    this.code = code;
  }

  /** The library's error code. */
  public int code() {
    return code;
  }
}
