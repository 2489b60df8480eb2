package io.arrakis.engine.tensor;

import org.bytedeco.javacpp.FloatPointer;

/**
 * Two native float buffers that stage a product's input and output, grown (never shrunk) to the
 * largest asked for. One per thread of computation: not thread-safe.
 */
public final class NativeScratch {
  private FloatPointer in = new FloatPointer(1024);
  private FloatPointer out = new FloatPointer(1024);

  FloatPointer in(long floats) {
    if (in.capacity() < floats) {
      in.close();
      in = new FloatPointer(grown(floats));
    }
    return in;
  }

  FloatPointer out(long floats) {
    if (out.capacity() < floats) {
      out.close();
      out = new FloatPointer(grown(floats));
    }
    return out;
  }

  private static long grown(long n) {
    return Math.max(1024, Long.highestOneBit(n - 1) << 1);
  }

  public void close() {
    in.close();
    out.close();
  }
}
