package io.arrakis.model.tensor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import com.google.protobuf.ByteString;
import io.arrakis.proto.v1.DType;
import io.arrakis.proto.v1.Tensor;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Checks on incoming hidden states: each failure names the field at fault and says whether it is a
 * size limit.
 */
class TensorChecksTest {
  private static final int HIDDEN = 8;
  private static final int MAX_TOKENS = 16;

  @Test
  void wellFormedFloat32AndBfloat16ActivationsPassAndGiveTheTokenCount() throws Exception {
    assertThat(
            TensorChecks.checkActivations(
                "hidden_states", tensor(DType.FLOAT32, 3, HIDDEN), HIDDEN, MAX_TOKENS))
        .isEqualTo(3);
    assertThat(
            TensorChecks.checkActivations(
                "hidden_states", tensor(DType.BFLOAT16, 5, HIDDEN), HIDDEN, MAX_TOKENS))
        .isEqualTo(5);
    assertThat(
            TensorChecks.checkActivations(
                "hidden_states", tensor(DType.FLOAT32, MAX_TOKENS, HIDDEN), HIDDEN, MAX_TOKENS))
        .isEqualTo(MAX_TOKENS);
  }

  @Test
  void aWrongDtypeIsInvalid() {
    TensorCheckException e = check(tensor(DType.INT32, 2, HIDDEN));
    TensorCheckException unspecified = check(tensor(DType.DTYPE_UNSPECIFIED, 2, HIDDEN));
    TensorCheckException unknown =
        check(
            Tensor.newBuilder()
                .setDtypeValue(99)
                .addShape(2)
                .addShape(HIDDEN)
                .setData(ByteString.copyFrom(new byte[2 * HIDDEN * 4]))
                .build());

    assertThat(e.getMessage()).contains("hidden_states.dtype").contains("INT32");
    assertThat(e.tooLarge()).isFalse();
    assertThat(unspecified.getMessage()).contains("hidden_states.dtype");
    assertThat(unknown.getMessage()).contains("hidden_states.dtype").contains("99");
  }

  @Test
  void aRankOtherThanTwoIsInvalid() {
    TensorCheckException rank1 =
        check(
            Tensor.newBuilder()
                .setDtype(DType.FLOAT32)
                .addShape(HIDDEN)
                .setData(ByteString.copyFrom(new byte[HIDDEN * 4]))
                .build());
    TensorCheckException rank3 =
        check(
            Tensor.newBuilder()
                .setDtype(DType.FLOAT32)
                .addAllShape(List.of(1L, 2L, 8L))
                .setData(ByteString.copyFrom(new byte[2 * HIDDEN * 4]))
                .build());

    assertThat(rank1.getMessage()).contains("hidden_states.shape").contains("rank 1");
    assertThat(rank3.getMessage()).contains("hidden_states.shape").contains("rank 3");
    assertThat(rank1.tooLarge()).isFalse();
  }

  @ParameterizedTest
  @ValueSource(longs = {0, -1})
  void aNonPositiveTokenCountIsInvalid(long tokens) {
    TensorCheckException e =
        check(
            Tensor.newBuilder().setDtype(DType.FLOAT32).addShape(tokens).addShape(HIDDEN).build());

    assertThat(e.getMessage()).contains("hidden_states.shape[0]").contains("positive");
    assertThat(e.tooLarge()).isFalse();
  }

  @Test
  void aWidthOtherThanTheHiddenSizeIsInvalid() {
    TensorCheckException e = check(tensor(DType.FLOAT32, 2, HIDDEN + 1));

    assertThat(e.getMessage())
        .contains("hidden_states.shape[1]")
        .contains(String.valueOf(HIDDEN))
        .contains("got 9");
    assertThat(e.tooLarge()).isFalse();
  }

  @Test
  void aByteCountThatDoesNotMatchTheShapeIsInvalid() {
    Tensor shortData =
        tensor(DType.FLOAT32, 2, HIDDEN).toBuilder()
            .setData(ByteString.copyFrom(new byte[2 * HIDDEN * 4 - 1]))
            .build();
    Tensor bf16WithF32Bytes =
        tensor(DType.BFLOAT16, 2, HIDDEN).toBuilder()
            .setData(ByteString.copyFrom(new byte[2 * HIDDEN * 4]))
            .build();

    TensorCheckException e = check(shortData);
    assertThat(e.getMessage())
        .contains("hidden_states.data")
        .contains("63 bytes")
        .contains("needs 64");
    assertThat(e.tooLarge()).isFalse();
    assertThat(check(bf16WithF32Bytes).getMessage())
        .contains("hidden_states.data")
        .contains("needs 32");
  }

  @Test
  void moreTokensThanTheLimitIsTooLargeRatherThanInvalid() {
    TensorCheckException e = check(tensor(DType.FLOAT32, MAX_TOKENS + 1, HIDDEN));

    assertThat(e.tooLarge()).isTrue();
    assertThat(e.getMessage())
        .contains("hidden_states.shape[0]")
        .contains("17")
        .contains(String.valueOf(MAX_TOKENS));
  }

  @Test
  void theFieldNameIsTheCallersOwn() {
    TensorCheckException e =
        catchThrowableOfType(
            TensorCheckException.class,
            () ->
                TensorChecks.checkActivations(
                    "batch.rows", tensor(DType.FLOAT32, 2, 3), HIDDEN, MAX_TOKENS));

    assertThat(e.getMessage()).startsWith("batch.rows.shape[1]");
  }

  @Test
  void checkFiniteCatchesNanAndInfinities() {
    for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
      TensorCheckException e =
          catchThrowableOfType(
              TensorCheckException.class,
              () ->
                  TensorChecks.checkFinite(
                      "hidden_states", Nd4j.createFromArray(new float[][] {{1f, 2f}, {3f, bad}})));
      assertThat(e).as("value %s", bad).isNotNull();
      assertThat(e.getMessage()).contains("hidden_states").contains("NaN or infinite");
      assertThat(e.tooLarge()).isFalse();
    }
  }

  @Test
  void checkFinitePassesFiniteValuesIncludingExtremes() {
    assertThatCode(
            () ->
                TensorChecks.checkFinite(
                    "hidden_states",
                    Nd4j.createFromArray(
                        new float[][] {
                          {Float.MAX_VALUE, -Float.MAX_VALUE}, {Float.MIN_VALUE, 0f}
                        })))
        .doesNotThrowAnyException();
  }

  private static TensorCheckException check(Tensor t) {
    TensorCheckException e =
        catchThrowableOfType(
            TensorCheckException.class,
            () -> TensorChecks.checkActivations("hidden_states", t, HIDDEN, MAX_TOKENS));
    assertThat(e).as("expected a TensorCheckException").isNotNull();
    return e;
  }

  private static Tensor tensor(DType dtype, long tokens, long width) {
    int size = dtype == DType.BFLOAT16 ? 2 : 4;
    return Tensor.newBuilder()
        .setDtype(dtype)
        .addShape(tokens)
        .addShape(width)
        .setData(ByteString.copyFrom(new byte[(int) (tokens * width * size)]))
        .build();
  }
}
