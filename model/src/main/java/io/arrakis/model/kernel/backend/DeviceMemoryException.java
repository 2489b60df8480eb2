package io.arrakis.model.kernel.backend;

import java.io.IOException;

/**
 * Experts or a batch that do not fit in what the device has free; the message says how much that
 * is.
 */
public final class DeviceMemoryException extends IOException {
  private static final long serialVersionUID = 1L;

  public DeviceMemoryException(String message) {
    super(message);
  }
}
