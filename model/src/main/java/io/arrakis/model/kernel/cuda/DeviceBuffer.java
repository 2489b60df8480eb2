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
  private final boolean pageableHost;
  private BytePointer memory;
  private ByteBuffer pageable;
  private long capacity;
  private ByteBuffer hostView;

  private DeviceBuffer(String name, boolean pinnedHost, boolean pageableHost) {
    this.name = name;
    this.pinnedHost = pinnedHost;
    this.pageableHost = pageableHost;
  }

  static DeviceBuffer device(String name) {
    return new DeviceBuffer(name, false, false);
  }

  /** Host memory for copies to and from the device: pinned, or ordinary (direct) memory. */
  static DeviceBuffer host(String name, boolean pinned) {
    return new DeviceBuffer(name, pinned, !pinned);
  }

  /** Grows to at least {@code bytes} (its contents are then lost). */
  void ensure(long bytes) throws DeviceMemoryException {
    if (bytes <= capacity) {
      return;
    }
    free();
    long size = Math.max(bytes + bytes / 4, 1L << 16);
    if (pageableHost) {
      pageable = ByteBuffer.allocateDirect(Math.toIntExact(size)).order(ByteOrder.LITTLE_ENDIAN);
      memory = new BytePointer(pageable);
      capacity = size;
      hostView = pageable;
      return;
    }
    Pointer p = new Pointer();
    int rc = pinnedHost ? cudaMallocHost(p, size) : cudaMalloc(p, size);
    if (rc == CUDA_ERROR_MEMORY_ALLOCATION) {
      throw new DeviceMemoryException(
          "no room for "
              + Cuda.gib(size)
              + " of "
              + (pinnedHost ? "pinned host" : "device")
              + " memory for "
              + name);
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

  /** The memory from byte {@code offset} on, as a pointer argument. */
  Pointer at(long offset) {
    return new DevicePointer(memory.address() + offset);
  }

  /** A pinned buffer's memory as a little-endian buffer, position 0, limit at capacity. */
  ByteBuffer host() {
    return hostView.clear();
  }

  void free() {
    if (pageable != null) {
      pageable = null; // the garbage collector frees it
      memory = null;
      hostView = null;
      capacity = 0;
      return;
    }
    if (memory != null) {
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
