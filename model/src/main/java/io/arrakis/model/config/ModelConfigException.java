package io.arrakis.model.config;

/** A model directory whose config.json or tensors do not describe a usable MoE model. */
public class ModelConfigException extends RuntimeException {
  public ModelConfigException(String message) {
    super(message);
  }
}
