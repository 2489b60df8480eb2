package io.arrakis.engine.generate;

/** Receives a sequence's tokens as they are chosen. */
@FunctionalInterface
public interface TokenListener {
  /** Called with each new token; returning false cancels the sequence. */
  boolean onToken(int token);

  TokenListener NONE = t -> true;
}
