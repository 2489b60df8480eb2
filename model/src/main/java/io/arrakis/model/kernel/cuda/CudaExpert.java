package io.arrakis.model.kernel.cuda;

import io.arrakis.model.kernel.backend.BackendExpert;
import org.bytedeco.javacpp.BytePointer;

/**
 * One expert's weights in device memory, bf16: W13 = [gate; up] [2 ff, d] (the fused gate/up
 * product) and W2 [d, ff], both rows of output features as the checkpoint stores them.
 */
final class CudaExpert implements BackendExpert {
  private final int d;
  private final int ff;
  private final BytePointer w13;
  private final BytePointer w2;
  private volatile boolean freed;

  CudaExpert(int d, int ff, BytePointer w13, BytePointer w2) {
    this.d = d;
    this.ff = ff;
    this.w13 = w13;
    this.w2 = w2;
  }

  @Override
  public int hiddenSize() {
    return d;
  }

  @Override
  public int ffnSize() {
    return ff;
  }

  @Override
  public long weightBytes() {
    return 3L * d * ff * 2;
  }

  long w13() {
    return w13.address();
  }

  long w2() {
    return w2.address();
  }

  BytePointer w13Pointer() {
    return w13;
  }

  BytePointer w2Pointer() {
    return w2;
  }

  boolean freed() {
    return freed;
  }

  void markFreed() {
    freed = true;
  }
}
