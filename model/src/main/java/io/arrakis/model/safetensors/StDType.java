package io.arrakis.model.safetensors;

import java.util.Arrays;
import java.util.Optional;

/** The element types of the safetensors format that Arrakis reads and writes. */
public enum StDType {
  F64(8),
  F32(4),
  F16(2),
  BF16(2),
  I64(8),
  I32(4),
  I16(2),
  I8(1),
  U8(1),
  BOOL(1),
  /** DeepSeek's FP8 weights (e4m3, finite only), read widened with their block scales. */
  F8_E4M3(1);

  private final int size;

  StDType(int size) {
    this.size = size;
  }

  /** Bytes per element. */
  public int size() {
    return size;
  }

  /** Looks up a dtype by its safetensors name ("F32", "BF16", ...). */
  public static Optional<StDType> named(String name) {
    return Arrays.stream(values()).filter(d -> d.name().equals(name)).findFirst();
  }
}
