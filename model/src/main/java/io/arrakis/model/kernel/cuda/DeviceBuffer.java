package io.arrakis.model.kernel.cuda;

import static io.arrakis.model.kernel.cuda.Cuda.check;
import static org.bytedeco.cuda.global.cudart.cudaFree;
import static org.bytedeco.cuda.global.cudart.cudaFreeHost;
import static org.bytedeco.cuda.global.cudart.cudaMalloc;
import static org.bytedeco.cuda.global.cudart.cudaMallocHost;

import io.arrakis.model.kernel.backend.DeviceMemoryException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;

/**
 * A device (or pinned host) buffer that grows to the largest batch seen and is then reused, so a
 * steady stream of batches allocates nothing.
 */
final class DeviceBuffer {
  private static final int CUDA_ERROR_MEMORY_ALLOCATION = 2;

  private final String name;
  private final boolean pinnedHost;
  private BytePointer memory;
  private long capacity;
  private ByteBuffer hostView;

  private DeviceBuffer(String name, boolean pinnedHost) {
    this.name = name;
    this.pinnedHost = pinnedHost;
  }

  static DeviceBuffer device(String name) {
    return new DeviceBuffer(name, false);
  }

  static DeviceBuffer pinnedHost(String name) {
    return new DeviceBuffer(name, true);
  }

  /** Grows to at least {@code bytes} (its contents are then lost). */
  void ensure(long bytes) throws DeviceMemoryException {
    if (bytes <= capacity) {
      return;
    }
    free();
    long size = Math.max(bytes + bytes / 4, 1L << 16);
    Pointer p = new Pointer();
    int rc = pinnedHost ? cudaMallocHost(p, size) : cudaMalloc(p, size);
    if (rc == CUDA_ERROR_MEMORY_ALLOCATION) {
      throw new DeviceMemoryException("no room for " + Cuda.gib(size) + " of " + (pinnedHost ? "pinned host" : "device")
          + " memory for " + name);
    }
    check(rc, pinnedHost ? "cudaMallocHost(" + name + ")" : "cudaMalloc(" + name + ")");
    memory = new BytePointer(p);
    memory.capacity(size).limit(size);
    capacity = size;
    hostView = pinnedHost ? memory.asByteBuffer().order(ByteOrder.LITTLE_ENDIAN) : null;
  }

  long address() {
    return memory.address();
  }

  long capacity() {
    return capacity;
  }

  /** The memory from byte {@code offset} on, as a pointer argument (one use at a time). */
  BytePointer at(long offset) {
    return memory.position(offset);
  }

  /** A pinned buffer's memory as a little-endian buffer, position 0, limit at capacity. */
  ByteBuffer host() {
    return hostView.clear();
  }

  void free() {
    if (memory != null) {
      memory.position(0);
      if (pinnedHost) {
        cudaFreeHost(memory);
      } else {
        cudaFree(memory);
      }
      memory = null;
      hostView = null;
      capacity = 0;
    }
  }
}
