package io.arrakis.model.kernel.backend;

import io.arrakis.model.safetensors.StDType;
import io.arrakis.model.tensor.Bf16;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.ShortBuffer;

/**
 * A weight matrix as the checkpoint stores it: little-endian F32, BF16 or F16 bytes, row-major,
 * usually a memory-mapped view of the file.
 */
public record WeightTensor(StDType dtype, long rows, long cols, ByteBuffer bytes) {
  public WeightTensor {
    if (dtype != StDType.F32 && dtype != StDType.BF16 && dtype != StDType.F16) {
      throw new IllegalArgumentException("expert weights must be F32, BF16 or F16, got " + dtype);
    }
    if (bytes.remaining() != rows * cols * dtype.size()) {
      throw new IllegalArgumentException(
          "a "
              + dtype
              + " ["
              + rows
              + ", "
              + cols
              + "] matrix needs "
              + rows * cols * dtype.size()
              + " bytes, got "
              + bytes.remaining());
    }
    bytes = bytes.slice().order(ByteOrder.LITTLE_ENDIAN);
  }

  public long elements() {
    return rows * cols;
  }

  /** Element i (row-major) widened to float. */
  public float get(long i) {
    int at = Math.toIntExact(i * dtype.size());
    return switch (dtype) {
      case F32 -> bytes.getFloat(at);
      case BF16 -> Bf16.toFloat(bytes.getShort(at));
      default -> halfToFloat(bytes.getShort(at));
    };
  }

  /** IEEE binary16 to float, exactly (Java 17 has no Float.float16ToFloat). */
  static float halfToFloat(short h) {
    int sign = (h & 0x8000) << 16;
    int exp = (h >>> 10) & 0x1f;
    int mant = h & 0x3ff;
    if (exp == 0x1f) {
      return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
    }
    if (exp == 0) {
      float sub = mant * 0x1p-24f;
      return sign == 0 ? sub : -sub;
    }
    return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
  }

  /**
   * Writes the elements as bf16 (round to nearest even; bf16 itself is copied as is) into {@code
   * out} from its position, which moves past them.
   */
  public void writeBf16(ByteBuffer out) {
    if (dtype == StDType.BF16) {
      out.put(bytes.duplicate());
      return;
    }
    ShortBuffer dst = out.slice().order(ByteOrder.LITTLE_ENDIAN).asShortBuffer();
    long n = elements();
    for (int i = 0; i < n; i++) {
      dst.put(i, Bf16.fromFloat(get(i)));
    }
    out.position(Math.toIntExact(out.position() + n * 2));
  }
}
