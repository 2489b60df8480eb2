package io.arrakis.loadtest.load;

/** A load run could not start (target unreachable, bad option against the served model). */
final class LoadException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public LoadException(String message) {
    super(message);
  }
}
