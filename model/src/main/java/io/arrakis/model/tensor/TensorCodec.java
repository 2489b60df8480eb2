package io.arrakis.model.tensor;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import io.arrakis.proto.v1.DType;
import io.arrakis.proto.v1.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;
import java.util.Arrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Wire tensors ({@link Tensor}) to and from ND4J arrays and Java arrays. Data moves in bulk copies;
 * a tensor is checked with {@link TensorChecks} before it is decoded.
 */
public final class TensorCodec {
  private TensorCodec() {}

  /** Bytes per element of a wire dtype; 0 for DTYPE_UNSPECIFIED or an unknown value. */
  public static int elementSize(DType dtype) {
    return switch (dtype) {
      case FLOAT32, INT32 -> 4;
      case BFLOAT16 -> 2;
      case INT64 -> 8;
      default -> 0;
    };
  }

  /**
   * A FLOAT32 or BFLOAT16 wire tensor as a FLOAT32 array (allocated in the active workspace, if
   * any).
   */
  public static INDArray decodeFloat(Tensor tensor) {
    DataType type =
        switch (tensor.getDtype()) {
          case FLOAT32 -> DataType.FLOAT;
          case BFLOAT16 -> DataType.BFLOAT16;
          default ->
              throw new IllegalArgumentException(
                  "expected FLOAT32 or BFLOAT16, got " + tensor.getDtype());
        };
    long[] shape = tensor.getShapeList().stream().mapToLong(Long::longValue).toArray();
    return NdArrays.fromBytesAsFloat(tensor.getData().asReadOnlyByteBuffer(), type, shape);
  }

  /**
   * Writes a FLOAT32 or BFLOAT16 wire tensor of {@code dst}'s shape into {@code dst} (FLOAT, dense
   * c-order): one bulk copy for FLOAT32, one native cast for BFLOAT16.
   */
  public static void decodeFloatInto(Tensor tensor, INDArray dst) {
    if (dst.dataType() != DataType.FLOAT || dst.ordering() != 'c' || dst.offset() != 0) {
      throw new IllegalArgumentException("decodeFloatInto needs a FLOAT c-order array at offset 0");
    }
    if (tensor.getDtype() == DType.FLOAT32) {
      dst.data()
          .asNio()
          .order(ByteOrder.LITTLE_ENDIAN)
          .put(tensor.getData().asReadOnlyByteBuffer());
    } else {
      dst.assign(decodeFloat(tensor));
    }
  }

  /** A FLOAT32 array as a wire tensor; the bytes are copied once out of native memory. */
  public static Tensor encodeFloat(INDArray array) {
    if (array.dataType() != DataType.FLOAT) {
      throw new IllegalArgumentException("expected a FLOAT array, got " + array.dataType());
    }
    return Tensor.newBuilder()
        .setDtype(DType.FLOAT32)
        .addAllShape(Arrays.stream(array.shape()).boxed().toList())
        .setData(UnsafeByteOperations.unsafeWrap(NdArrays.toBytes(array)))
        .build();
  }

  /** A row-major float[] of shape [rows, cols] as a FLOAT32 tensor. */
  public static Tensor encodeFloat(float[] data, long rows, long cols) {
    ByteBuffer buf = ByteBuffer.allocate(data.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    buf.asFloatBuffer().put(data);
    return Tensor.newBuilder()
        .setDtype(DType.FLOAT32)
        .addShape(rows)
        .addShape(cols)
        .setData(UnsafeByteOperations.unsafeWrap(buf.array()))
        .build();
  }

  /** A row-major int[] of shape [rows, cols] as an INT32 tensor. */
  public static Tensor encodeInt(int[] data, long rows, long cols) {
    ByteBuffer buf = ByteBuffer.allocate(data.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    buf.asIntBuffer().put(data);
    return Tensor.newBuilder()
        .setDtype(DType.INT32)
        .addShape(rows)
        .addShape(cols)
        .setData(UnsafeByteOperations.unsafeWrap(buf.array()))
        .build();
  }

  /**
   * A FLOAT32 or BFLOAT16 tensor's data as FLOAT32 little-endian bytes: the tensor's own bytes for
   * FLOAT32, widened exactly for BFLOAT16.
   */
  public static ByteString float32Bytes(Tensor tensor) {
    return switch (tensor.getDtype()) {
      case FLOAT32 -> tensor.getData();
      case BFLOAT16 -> widenBf16(tensor.getData());
      default ->
          throw new IllegalArgumentException(
              "expected FLOAT32 or BFLOAT16, got " + tensor.getDtype());
    };
  }

  /** BFLOAT16 little-endian bytes widened (exactly) to FLOAT32 little-endian bytes. */
  public static ByteString widenBf16(ByteString bf16) {
    ShortBuffer in = bf16.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asShortBuffer();
    ByteBuffer out = ByteBuffer.allocate(in.remaining() * 4).order(ByteOrder.LITTLE_ENDIAN);
    FloatBuffer f = out.asFloatBuffer();
    while (in.hasRemaining()) {
      f.put(Bf16.toFloat(in.get()));
    }
    return UnsafeByteOperations.unsafeWrap(out.array());
  }

  /** FLOAT32 little-endian bytes rounded (to nearest even) to BFLOAT16 little-endian bytes. */
  public static ByteString narrowToBf16(ByteString float32) {
    FloatBuffer in = float32.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
    ByteBuffer out = ByteBuffer.allocate(in.remaining() * 2).order(ByteOrder.LITTLE_ENDIAN);
    ShortBuffer s = out.asShortBuffer();
    while (in.hasRemaining()) {
      s.put(Bf16.fromFloat(in.get()));
    }
    return UnsafeByteOperations.unsafeWrap(out.array());
  }

  /** A FLOAT32 tensor's elements (row-major); for tests and small tensors. */
  public static float[] floats(Tensor tensor) {
    requireDtype(tensor, DType.FLOAT32);
    float[] out = new float[tensor.getData().size() / 4];
    tensor.getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
    return out;
  }

  /**
   * A FLOAT32 or BFLOAT16 tensor's elements widened to float (row-major), e.g. partial sums from a
   * bf16 node.
   */
  public static float[] widenedFloats(Tensor tensor) {
    if (tensor.getDtype() == DType.FLOAT32) {
      return floats(tensor);
    }
    requireDtype(tensor, DType.BFLOAT16);
    ByteBuffer b = tensor.getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    float[] out = new float[tensor.getData().size() / 2];
    for (int i = 0; i < out.length; i++) {
      out[i] = Bf16.toFloat(b.getShort());
    }
    return out;
  }

  /** An INT32 tensor's elements (row-major). */
  public static int[] ints(Tensor tensor) {
    requireDtype(tensor, DType.INT32);
    int[] out = new int[tensor.getData().size() / 4];
    tensor.getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(out);
    return out;
  }

  private static void requireDtype(Tensor tensor, DType dtype) {
    if (tensor.getDtype() != dtype) {
      throw new IllegalArgumentException("expected " + dtype + ", got " + tensor.getDtype());
    }
  }
}
