package io.arrakis.loadtest.cluster;

/**
 * A cluster could not be started or reached. The message is one line; {@link #detail()} holds what
 * explains it (the tail of the failing process's log), possibly empty.
 */
public final class ClusterException extends RuntimeException {
  private static final long serialVersionUID = 1L;
  private final String detail;

  public ClusterException(String message, String detail) {
    super(message);
    this.detail = detail == null ? "" : detail;
  }

  public ClusterException(String message) {
    this(message, "");
  }

  public String detail() {
    return detail;
  }

  /**
   * Message and detail, for logs and test failures. Not getMessage: that stays the one line a
   * command prints as its error.
   */
  @SuppressWarnings("OverrideThrowableToString")
  @Override
  public String toString() {
    return detail.isEmpty() ? getMessage() : getMessage() + "\n" + detail;
  }
}
