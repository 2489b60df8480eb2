package io.arrakis.model.kernel.backend;

/** One expert as a backend holds it. */
public interface BackendExpert {
  int hiddenSize();

  int ffnSize();

  /** Bytes its weights take on the backend's device. */
  long weightBytes();
}
