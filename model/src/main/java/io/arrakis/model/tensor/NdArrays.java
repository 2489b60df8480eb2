package io.arrakis.model.tensor;

import io.arrakis.model.safetensors.SafetensorsFile;
import io.arrakis.model.safetensors.StDType;
import io.arrakis.model.safetensors.TensorInfo;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.Shape;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Bulk copies between little-endian bytes and ND4J arrays. Every copy is one memcpy into or out of
 * the array's native buffer; widening (bf16, f16 to f32) runs as one native cast, never a Java
 * loop.
 */
public final class NdArrays {
  private NdArrays() {}

  /**
   * A new c-order array of {@code type} and {@code shape} holding {@code bytes} (little-endian,
   * exactly the array's byte size). Allocated in the thread's active workspace, if any.
   */
  public static INDArray fromBytes(ByteBuffer bytes, DataType type, long[] shape) {
    INDArray array = Nd4j.create(type, shape, 'c');
    long expected = array.length() * type.width();
    if (bytes.remaining() != expected) {
      throw new IllegalArgumentException(
          "expected "
              + expected
              + " bytes for "
              + type
              + Arrays.toString(shape)
              + ", got "
              + bytes.remaining());
    }
    if (expected > 0) {
      array.data().asNio().order(ByteOrder.LITTLE_ENDIAN).put(bytes.duplicate());
    }
    return array;
  }

  /** Like {@link #fromBytes}, then widened to FLOAT32 when the source is narrower. */
  public static INDArray fromBytesAsFloat(ByteBuffer bytes, DataType type, long[] shape) {
    INDArray array = fromBytes(bytes, type, shape);
    return type == DataType.FLOAT ? array : array.castTo(DataType.FLOAT);
  }

  /**
   * A safetensors tensor as a FLOAT32 array, outside any workspace (weights live as long as the
   * node).
   */
  public static INDArray readFloat(SafetensorsFile file, String name) throws IOException {
    TensorInfo info = file.info(name);
    DataType type =
        switch (info.dtype()) {
          case F32 -> DataType.FLOAT;
          case BF16 -> DataType.BFLOAT16;
          case F16 -> DataType.HALF;
          default ->
              throw new IOException(
                  file.path()
                      + ": tensor '"
                      + name
                      + "' has dtype "
                      + info.dtype()
                      + ", expected F32, BF16 or F16");
        };
    try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
      return fromBytesAsFloat(file.bytes(name), type, info.shape());
    }
  }

  /** The array's elements as little-endian bytes in c order, copied into a new heap buffer. */
  public static byte[] toBytes(INDArray array) {
    INDArray dense = denseC(array);
    byte[] out = new byte[(int) (dense.length() * dense.dataType().width())];
    if (out.length > 0) {
      dense.data().asNio().order(ByteOrder.LITTLE_ENDIAN).get(out);
    }
    return out;
  }

  /**
   * The array's own native bytes as a read-only little-endian view (no copy): valid only while the
   * array (and its workspace) lives.
   */
  public static ByteBuffer view(INDArray array) {
    INDArray dense = denseC(array);
    ByteBuffer nio = dense.data().asNio().order(ByteOrder.LITTLE_ENDIAN);
    long bytes = dense.length() * dense.dataType().width();
    return nio.slice().limit((int) bytes).asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
  }

  /**
   * The array itself when its elements lie densely in c order from the start of its buffer (a view
   * of leading rows does), else a c-order copy.
   */
  public static INDArray denseC(INDArray array) {
    boolean dense =
        array.ordering() == 'c'
            && array.offset() == 0
            && array.data().offset() == 0
            && Shape.hasDefaultStridesForShape(array);
    return dense ? array : array.dup('c');
  }

  /** The ND4J type of a safetensors dtype. */
  public static DataType dataType(StDType dtype) {
    return switch (dtype) {
      case F64 -> DataType.DOUBLE;
      case F32 -> DataType.FLOAT;
      case F16 -> DataType.HALF;
      case BF16 -> DataType.BFLOAT16;
      case I64 -> DataType.LONG;
      case I32 -> DataType.INT;
      case I16 -> DataType.SHORT;
      case I8 -> DataType.BYTE;
      case U8 -> DataType.UBYTE;
      case BOOL -> DataType.BOOL;
      case F8_E4M3 ->
          throw new IllegalArgumentException(
              "FP8 tensors are read widened to FLOAT32 (Checkpoint), not as ND4J arrays");
    };
  }
}
