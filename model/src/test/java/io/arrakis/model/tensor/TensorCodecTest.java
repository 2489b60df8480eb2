package io.arrakis.model.tensor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import io.arrakis.proto.v1.DType;
import io.arrakis.proto.v1.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Wire tensors to and from arrays: row-major little-endian bytes, exact values. */
class TensorCodecTest {

  @Test
  void float32EncodeThenDecodeGivesTheSameArray() {
    float[][] values = {{1.5f, -0f, Float.MIN_VALUE}, {Float.MAX_VALUE, -3.25e-30f, 7f}};
    INDArray a = Nd4j.createFromArray(values);

    Tensor t = TensorCodec.encodeFloat(a);
    INDArray back = TensorCodec.decodeFloat(t);

    assertThat(t.getDtype()).isEqualTo(DType.FLOAT32);
    assertThat(t.getShapeList()).containsExactly(2L, 3L);
    assertThat(t.getData().size()).isEqualTo(24);
    assertThat(back.dataType()).isEqualTo(DataType.FLOAT);
    assertThat(back.shape()).containsExactly(2, 3);
    assertThat(back.toFloatMatrix()).isDeepEqualTo(values);
    assertThat(Float.floatToRawIntBits(back.getFloat(0, 1)))
        .isEqualTo(Float.floatToRawIntBits(-0f));
  }

  @Test
  void float32BytesAreRowMajorLittleEndian() {
    Tensor t = TensorCodec.encodeFloat(Nd4j.createFromArray(new float[][] {{1f, 2f}, {3f, 4f}}));

    ByteBuffer b = t.getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    assertThat(new float[] {b.getFloat(), b.getFloat(), b.getFloat(), b.getFloat()})
        .containsExactly(1f, 2f, 3f, 4f);
    assertThat(t.getData().byteAt(3)).isEqualTo((byte) 0x3F); // 1.0f = 0x3F800000, high byte last
  }

  @Test
  void encodingAViewEncodesItsElementsInRowMajorOrder() {
    INDArray a = Nd4j.createFromArray(new float[][] {{1f, 2f, 3f}, {4f, 5f, 6f}});

    Tensor t = TensorCodec.encodeFloat(a.transpose());

    assertThat(t.getShapeList()).containsExactly(3L, 2L);
    assertThat(TensorCodec.floats(t)).containsExactly(1f, 4f, 2f, 5f, 3f, 6f);
  }

  @Test
  void bfloat16DecodesWidenedExactlyForEveryBitPattern() {
    ByteBuffer b = ByteBuffer.allocate(65536 * 2).order(ByteOrder.LITTLE_ENDIAN);
    for (int bits = 0; bits < 65536; bits++) {
      b.putShort((short) bits);
    }
    Tensor t =
        Tensor.newBuilder()
            .setDtype(DType.BFLOAT16)
            .addShape(256)
            .addShape(256)
            .setData(ByteString.copyFrom(b.flip()))
            .build();

    INDArray a = TensorCodec.decodeFloat(t);

    assertThat(a.dataType()).isEqualTo(DataType.FLOAT);
    assertThat(a.shape()).containsExactly(256, 256);
    float[] got = a.data().asFloat();
    for (int bits = 0; bits < 65536; bits++) {
      float want = Float.intBitsToFloat(bits << 16);
      if (Float.isNaN(want)) {
        assertThat(got[bits]).as("bf16 0x%04x", bits).isNaN();
      } else {
        assertThat(Float.floatToRawIntBits(got[bits]))
            .as("bf16 0x%04x", bits)
            .isEqualTo(bits << 16);
      }
    }
  }

  @Test
  void floatAndIntHelpersRoundTrip() {
    float[] f = {0.5f, -1f, 2f, 1e-7f, 3f, 4f};
    int[] i = {0, -7, Integer.MAX_VALUE, Integer.MIN_VALUE};

    Tensor ft = TensorCodec.encodeFloat(f, 2, 3);
    Tensor it = TensorCodec.encodeInt(i, 2, 2);

    assertThat(ft.getShapeList()).containsExactly(2L, 3L);
    assertThat(TensorCodec.floats(ft)).containsExactly(f);
    assertThat(TensorCodec.decodeFloat(ft).toFloatMatrix())
        .isDeepEqualTo(new float[][] {{0.5f, -1f, 2f}, {1e-7f, 3f, 4f}});
    assertThat(it.getDtype()).isEqualTo(DType.INT32);
    assertThat(it.getShapeList()).containsExactly(2L, 2L);
    assertThat(TensorCodec.ints(it)).containsExactly(i);
  }

  @Test
  void elementSizesFollowTheWireDtypes() {
    assertThat(TensorCodec.elementSize(DType.FLOAT32)).isEqualTo(4);
    assertThat(TensorCodec.elementSize(DType.BFLOAT16)).isEqualTo(2);
    assertThat(TensorCodec.elementSize(DType.INT32)).isEqualTo(4);
    assertThat(TensorCodec.elementSize(DType.INT64)).isEqualTo(8);
    assertThat(TensorCodec.elementSize(DType.DTYPE_UNSPECIFIED)).isZero();
    assertThat(TensorCodec.elementSize(DType.UNRECOGNIZED)).isZero();
  }

  @Test
  void wrongDtypesAreRefused() {
    Tensor ints = TensorCodec.encodeInt(new int[] {1, 2}, 1, 2);

    assertThatThrownBy(() -> TensorCodec.decodeFloat(ints))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("INT32");
    assertThatThrownBy(() -> TensorCodec.floats(ints)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> TensorCodec.ints(TensorCodec.encodeFloat(new float[] {1f}, 1, 1)))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> TensorCodec.encodeFloat(Nd4j.zeros(DataType.DOUBLE, 2, 2)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("DOUBLE");
  }

  @Test
  void bf16RoundsToNearestEven() {
    float oneUlp = 0x1p-7f; // bf16 spacing just above 1
    assertThat(Bf16.round(1f + oneUlp / 2)).isEqualTo(1f); // tie: 1.0 has the even mantissa
    assertThat(Bf16.round(1f + 3 * oneUlp / 2)).isEqualTo(1f + 2 * oneUlp); // tie: goes up to even
    assertThat(Bf16.round(1f + oneUlp / 2 + 0x1p-20f)).isEqualTo(1f + oneUlp); // past the tie
    assertThat(Bf16.round(-2.5f)).isEqualTo(-2.5f);
    assertThat(Bf16.round(Float.POSITIVE_INFINITY)).isEqualTo(Float.POSITIVE_INFINITY);
    assertThat(Bf16.round(Float.NaN)).isNaN();
    assertThat(Bf16.toFloat(Bf16.fromFloat(3.140625f))).isEqualTo(3.140625f);
  }
}
