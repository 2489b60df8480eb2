package io.arrakis.model.safetensors;

import java.util.Arrays;

/**
 * One tensor's entry in a safetensors header.
 *
 * @param name tensor name
 * @param dtype element type
 * @param shape dimensions, row-major
 * @param begin first byte, relative to the start of the data section
 * @param end one past the last byte, relative to the start of the data section
 */
public record TensorInfo(String name, StDType dtype, long[] shape, long begin, long end) {

  /** Number of elements, the product of the shape. */
  public long numElements() {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    return n;
  }

  /** Byte length of the data. */
  public long byteLength() {
    return end - begin;
  }

  /** The shape as "[a, b]". */
  public String shapeString() {
    return Arrays.toString(shape);
  }
}
