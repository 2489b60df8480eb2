package io.arrakis.model.tensor;

/** bfloat16 ⇄ float32 conversions (round to nearest even), for writing files and tests. */
public final class Bf16 {
  private Bf16() {}

  public static short fromFloat(float f) {
    int bits = Float.floatToRawIntBits(f);
    if (Float.isNaN(f)) {
      return (short) ((bits >>> 16) | 0x40);
    }
    int rounding = 0x7FFF + ((bits >>> 16) & 1);
    return (short) ((bits + rounding) >>> 16);
  }

  public static float toFloat(short bf16) {
    return Float.intBitsToFloat((bf16 & 0xFFFF) << 16);
  }

  /** {@code f} rounded to the nearest bfloat16 value. */
  public static float round(float f) {
    return toFloat(fromFloat(f));
  }
}
