package io.arrakis.engine.generate;

/** Why a sequence ended, as the serving APIs spell it. */
public enum FinishReason {
  /** eos or a stop token. */
  STOP("stop"),
  /** max tokens reached. */
  LENGTH("length"),
  /** the listener asked to stop. */
  CANCELLED("cancelled");

  private final String wire;

  FinishReason(String wire) {
    this.wire = wire;
  }

  public String wire() {
    return wire;
  }
}
