package io.arrakis.model.safetensors;

import java.io.IOException;

/**
 * A safetensors file that is malformed; the message names the file and, where one is at fault, the
 * tensor.
 */
public class SafetensorsException extends IOException {
  public SafetensorsException(String message) {
    super(message);
  }
}
