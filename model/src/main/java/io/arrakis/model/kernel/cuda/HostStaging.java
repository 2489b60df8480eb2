package io.arrakis.model.kernel.cuda;

import static io.arrakis.model.kernel.cuda.Cuda.check;
import static org.bytedeco.cuda.global.cudart.cudaFreeHost;
import static org.bytedeco.cuda.global.cudart.cudaMallocHost;

import java.nio.ByteBuffer;
import java.util.Locale;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Chooses the host side of a batch's copies. Pinned buffers let copies run asynchronously, but on
 * some virtual machines pinned memory is mapped uncached, where the CPU reads it at a fraction of
 * memory speed; copying the partial sums out of it would then cost more than the whole layer.
 * Measured once at start: reading 8 MB from a pinned and from an ordinary buffer.
 */
final class HostStaging {
  private static final Logger log = LoggerFactory.getLogger(HostStaging.class);
  private static final int BYTES = 8 << 20;

  private HostStaging() {}

  /** The two reads' best times, in milliseconds, and the choice they make. */
  record Choice(double pinnedReadMs, double plainReadMs) {
    boolean pinned() {
      return pinnedReadMs <= 2 * plainReadMs;
    }

    @Override
    public String toString() {
      return String.format(
          Locale.ROOT,
          "%s host buffers (reading 8 MB: %.2f ms pinned, %.2f ms ordinary)",
          pinned() ? "pinned" : "ordinary",
          pinnedReadMs,
          plainReadMs);
    }
  }

  static Choice measure() {
    Pointer p = new Pointer();
    check(cudaMallocHost(p, BYTES), "cudaMallocHost");
    try {
      ByteBuffer pinned = new BytePointer(p).capacity(BYTES).limit(BYTES).asByteBuffer();
      ByteBuffer plain = ByteBuffer.allocateDirect(BYTES);
      byte[] dst = new byte[BYTES];
      Choice c = new Choice(readMs(pinned, dst), readMs(plain, dst));
      log.info("batches stage through {}", c);
      return c;
    } finally {
      cudaFreeHost(p);
    }
  }

  /** Best of five reads of the buffer into {@code dst}, after one that touches it. */
  private static double readMs(ByteBuffer b, byte[] dst) {
    for (int i = 0; i < BYTES; i += 4096) {
      b.put(i, (byte) i);
    }
    double best = Double.MAX_VALUE;
    for (int r = 0; r < 6; r++) {
      long t0 = System.nanoTime();
      b.clear();
      b.get(dst);
      best = Math.min(best, (System.nanoTime() - t0) / 1e6);
    }
    return best;
  }
}
