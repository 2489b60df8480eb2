package io.arrakis.model.kernel.cuda;

import static io.arrakis.model.kernel.cuda.Cuda.check;
import static org.bytedeco.cuda.global.cudart.cuLaunchKernel;

import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.PointerPointer;

/**
 * Launches kernels on one stream: arguments are written into a native block and passed to
 * cuLaunchKernel (which copies them), so a launch allocates nothing. One thread at a time.
 */
final class Launcher implements AutoCloseable {
  private static final int MAX_ARGS = 16;

  private final CUstream_st stream;
  // slot i of the block holds argument i; the pointer array points at the slots
  private final BytePointer block = new BytePointer(8L * MAX_ARGS);
  private final LongPointer pointers = new LongPointer(MAX_ARGS);
  // the same array as a void** argument: cuLaunchKernel's Pointer overload would pass the address
  // of a pointer to it (JavaCPP maps a Pointer for void** by reference, as for cudaMalloc)
  private final PointerPointer<?> params = new PointerPointer<>(pointers);
  private int count;

  Launcher(CUstream_st stream) {
    this.stream = stream;
    for (int i = 0; i < MAX_ARGS; i++) {
      pointers.put(i, block.address() + 8L * i);
    }
  }

  Launcher ptr(long address) {
    return i64(address);
  }

  Launcher i64(long value) {
    block.putLong(8L * count++, value);
    return this;
  }

  Launcher i32(int value) {
    block.putInt(8L * count++, value);
    return this;
  }

  Launcher f32(float value) {
    block.putFloat(8L * count++, value);
    return this;
  }

  void launch(CUfunc_st function, int gridX, int gridY, int threads) {
    int n = count;
    count = 0;
    check(
        cuLaunchKernel(
            function, gridX, gridY, 1, threads, 1, 1, 0, stream, params, (PointerPointer<?>) null),
        "cuLaunchKernel (" + n + " arguments)");
  }

  @Override
  public void close() {
    block.close();
    pointers.close();
  }
}
