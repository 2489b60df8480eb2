package io.arrakis.model.kernel.backend;

/**
 * A backend that cannot start on this machine; the message is one line saying what is missing (no
 * driver, no CUDA 13 libraries, no such device).
 */
public final class BackendUnavailableException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public BackendUnavailableException(String message) {
    super(message);
  }

  public BackendUnavailableException(String message, Throwable cause) {
    super(message, cause);
  }
}
