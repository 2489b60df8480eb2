package io.arrakis.model.safetensors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.arrakis.model.tensor.Bf16;
import io.arrakis.model.tensor.NdArrays;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.assertj.core.api.AbstractThrowableAssert;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Writing and reading safetensors files, and the reader's refusal of malformed ones. */
class SafetensorsFileTest {

  @TempDir Path dir;

  // ---- round trip -------------------------------------------------------------------------------

  @Test
  void writerThenReaderRoundTripsTensorsOfEveryDtypeAndTheMetadata() throws IOException {
    float[] f32 = {1.5f, -2.25f, 0f, Float.MIN_VALUE, Float.MAX_VALUE, -1e-20f};
    short[] bf16 = {
      Bf16.fromFloat(1f), Bf16.fromFloat(-0.5f), Bf16.fromFloat(3.140625f), Bf16.fromFloat(-65536f)
    };
    short[] f16 = {0x3C00, (short) 0xC000, 0x3800, 0x7BFF}; // 1, -2, 0.5, 65504
    int[] i32 = {0, -1, Integer.MAX_VALUE, Integer.MIN_VALUE, 42, 7};
    Map<SafetensorsWriter.Entry, ByteBuffer> tensors = new LinkedHashMap<>();
    tensors.put(new SafetensorsWriter.Entry("a.f32", StDType.F32, new long[] {2, 3}), floats(f32));
    tensors.put(new SafetensorsWriter.Entry("b.bf16", StDType.BF16, new long[] {4}), shorts(bf16));
    tensors.put(
        new SafetensorsWriter.Entry("c.f16", StDType.F16, new long[] {2, 1, 2}), shorts(f16));
    tensors.put(new SafetensorsWriter.Entry("d.i32", StDType.I32, new long[] {3, 2}), ints(i32));
    tensors.put(
        new SafetensorsWriter.Entry("e.empty", StDType.F32, new long[] {0, 5}),
        floats(new float[0]));
    Map<String, String> metadata = new LinkedHashMap<>();
    metadata.put("format", "pt");
    metadata.put("note", "ünïcode ✓");
    Path file = dir.resolve("t.safetensors");

    SafetensorsWriter.write(file, tensors, metadata);

    try (SafetensorsFile f = SafetensorsFile.open(file)) {
      assertThat(f.path()).isEqualTo(file);
      assertThat(f.metadata()).containsExactlyEntriesOf(metadata);
      assertThat(f.tensors().keySet())
          .containsExactly("a.f32", "b.bf16", "c.f16", "d.i32", "e.empty");
      assertThat(f.contains("a.f32")).isTrue();
      assertThat(f.contains("__metadata__")).isFalse();

      TensorInfo a = f.info("a.f32");
      assertThat(a.dtype()).isEqualTo(StDType.F32);
      assertThat(a.shape()).containsExactly(2, 3);
      assertThat(a.numElements()).isEqualTo(6);
      assertThat(a.byteLength()).isEqualTo(24);
      assertThat(a.shapeString()).isEqualTo("[2, 3]");
      assertThat(bytes(f.bytes("a.f32"))).isEqualTo(floats(f32).array());

      assertThat(f.info("b.bf16").dtype()).isEqualTo(StDType.BF16);
      assertThat(f.info("b.bf16").shape()).containsExactly(4);
      assertThat(bytes(f.bytes("b.bf16"))).isEqualTo(shorts(bf16).array());

      assertThat(f.info("c.f16").dtype()).isEqualTo(StDType.F16);
      assertThat(f.info("c.f16").shape()).containsExactly(2, 1, 2);
      assertThat(bytes(f.bytes("c.f16"))).isEqualTo(shorts(f16).array());

      assertThat(f.info("d.i32").dtype()).isEqualTo(StDType.I32);
      assertThat(bytes(f.bytes("d.i32"))).isEqualTo(ints(i32).array());

      assertThat(f.info("e.empty").numElements()).isZero();
      assertThat(f.bytes("e.empty").remaining()).isZero();

      // and as float arrays, widened exactly
      assertThat(NdArrays.readFloat(f, "a.f32").data().asFloat()).containsExactly(f32);
      assertThat(NdArrays.readFloat(f, "b.bf16").data().asFloat())
          .containsExactly(1f, -0.5f, 3.140625f, -65536f);
      INDArray half = NdArrays.readFloat(f, "c.f16");
      assertThat(half.shape()).containsExactly(2, 1, 2);
      assertThat(half.data().asFloat()).containsExactly(1f, -2f, 0.5f, 65504f);
    }
  }

  @Test
  void writerStartsTheDataSectionEightByteAligned() throws IOException {
    Path file = dir.resolve("t.safetensors");
    SafetensorsWriter.write(
        file,
        Map.of(
            new SafetensorsWriter.Entry("x", StDType.F32, new long[] {1}),
            floats(new float[] {1f})),
        Map.of());

    byte[] raw = Files.readAllBytes(file);
    long headerLen = ByteBuffer.wrap(raw, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    assertThat(headerLen % 8).isZero();
    assertThat(raw.length).isEqualTo(8 + headerLen + 4);
    try (SafetensorsFile f = SafetensorsFile.open(file)) {
      assertThat(f.metadata()).isEmpty();
    }
  }

  @Test
  void writerAcceptsATensorInPiecesAndAcrossTensorBoundaries() throws IOException {
    Path file = dir.resolve("t.safetensors");
    List<SafetensorsWriter.Entry> entries =
        List.of(
            new SafetensorsWriter.Entry("a", StDType.I32, new long[] {3}),
            new SafetensorsWriter.Entry("b", StDType.I32, new long[] {2}));

    try (SafetensorsWriter w = SafetensorsWriter.create(file, entries, Map.of())) {
      w.write(ints(new int[] {1}));
      w.write(ints(new int[] {2, 3, 4})); // ends a, starts b
      w.write(ints(new int[] {5}));
    }

    try (SafetensorsFile f = SafetensorsFile.open(file)) {
      assertThat(bytes(f.bytes("a"))).isEqualTo(ints(new int[] {1, 2, 3}).array());
      assertThat(bytes(f.bytes("b"))).isEqualTo(ints(new int[] {4, 5}).array());
    }
  }

  @Test
  void writerRefusesTwoTensorsOfTheSameName() {
    List<SafetensorsWriter.Entry> entries =
        List.of(
            new SafetensorsWriter.Entry("a", StDType.I32, new long[] {1}),
            new SafetensorsWriter.Entry("a", StDType.I32, new long[] {2}));

    assertThatThrownBy(
            () -> {
              try (SafetensorsWriter w =
                  SafetensorsWriter.create(dir.resolve("dup.safetensors"), entries, Map.of())) {
                w.write(ints(new int[] {1, 2, 3}));
              }
            })
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("'a' declared twice");
  }

  @Test
  void writerRefusesTooFewOrTooManyBytes() throws IOException {
    List<SafetensorsWriter.Entry> entries =
        List.of(new SafetensorsWriter.Entry("a", StDType.I32, new long[] {2}));

    SafetensorsWriter short_ =
        SafetensorsWriter.create(dir.resolve("short.safetensors"), entries, Map.of());
    short_.write(ints(new int[] {1}));
    assertThatThrownBy(short_::close).isInstanceOf(IOException.class).hasMessageContaining("'a'");

    try (SafetensorsWriter w =
        SafetensorsWriter.create(dir.resolve("long.safetensors"), entries, Map.of())) {
      assertThatThrownBy(() -> w.write(ints(new int[] {1, 2, 3})))
          .isInstanceOf(IOException.class)
          .hasMessageContaining("more bytes");
    }
  }

  @Test
  void askingForAnAbsentTensorNamesItAndTheFile() throws IOException {
    Path file = dir.resolve("t.safetensors");
    SafetensorsWriter.write(
        file,
        Map.of(
            new SafetensorsWriter.Entry("x", StDType.F32, new long[] {1}),
            floats(new float[] {1f})),
        Map.of());

    try (SafetensorsFile f = SafetensorsFile.open(file)) {
      assertThatThrownBy(() -> f.info("nope"))
          .isInstanceOf(SafetensorsException.class)
          .hasMessageContaining("'nope'")
          .hasMessageContaining(file.toString());
    }
  }

  // ---- malformed files --------------------------------------------------------------------------

  @Test
  void rejectsAFileShorterThanTheEightByteHeaderLength() throws IOException {
    Path file = dir.resolve("tiny.safetensors");
    Files.write(file, new byte[] {5, 0, 0, 0, 0});

    assertRejected(file)
        .hasMessageContaining("5 bytes")
        .hasMessageContaining("shorter than the 8-byte header length");
  }

  @Test
  void rejectsAnEmptyFile() throws IOException {
    Path file = dir.resolve("empty.safetensors");
    Files.write(file, new byte[0]);

    assertRejected(file).hasMessageContaining("0 bytes");
  }

  @Test
  void rejectsATruncatedFileNamingTheTensorWhoseDataIsCut() throws IOException {
    Path file = dir.resolve("cut.safetensors");
    Map<SafetensorsWriter.Entry, ByteBuffer> tensors = new LinkedHashMap<>();
    tensors.put(
        new SafetensorsWriter.Entry("first", StDType.F32, new long[] {4}), floats(new float[4]));
    tensors.put(
        new SafetensorsWriter.Entry("second", StDType.F32, new long[] {4}), floats(new float[4]));
    SafetensorsWriter.write(file, tensors, Map.of());
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
      ch.truncate(ch.size() - 3);
    }

    assertRejected(file).hasMessageContaining("'second'").hasMessageContaining("truncated");
  }

  @Test
  void rejectsAnAbsurdHeaderLength() throws IOException {
    Path file = dir.resolve("huge.safetensors");
    write(file, 1L << 40, "{}", new byte[0]);

    assertRejected(file)
        .hasMessageContaining("header length 1099511627776")
        .hasMessageContaining("absurd");
  }

  @Test
  void rejectsAHeaderLengthWithTheTopBitSet() throws IOException {
    Path file = dir.resolve("negative.safetensors");
    write(file, -1L, "{}", new byte[0]);

    assertRejected(file)
        .hasMessageContaining("18446744073709551615")
        .hasMessageContaining("absurd");
  }

  @Test
  void rejectsAZeroHeaderLength() throws IOException {
    Path file = dir.resolve("zero.safetensors");
    write(file, 0, "", new byte[0]);

    assertRejected(file).hasMessageContaining("header length 0");
  }

  @Test
  void rejectsAHeaderLengthLongerThanTheFile() throws IOException {
    Path file = dir.resolve("long-header.safetensors");
    write(file, 1000, "{}", new byte[0]);

    assertRejected(file)
        .hasMessageContaining("header length 1000")
        .hasMessageContaining("past the end of the file");
  }

  @Test
  void rejectsAHeaderThatIsNotJson() throws IOException {
    Path file = dir.resolve("garbage.safetensors");
    write(file, "{\"a\": {\"dtype\": F32", new byte[0]);

    assertRejected(file).hasMessageContaining("header is not valid JSON");
  }

  @Test
  void rejectsTextAfterTheHeaderObject() throws IOException {
    Path file = dir.resolve("trailing.safetensors");
    write(
        file,
        "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} {\"x\":1}",
        new byte[4]);

    assertRejected(file).hasMessageContaining("header is not valid JSON");
  }

  @Test
  void acceptsSpacePaddingAfterTheHeaderObject() throws IOException {
    Path file = dir.resolve("padded.safetensors");
    write(
        file, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}     ", new byte[4]);

    try (SafetensorsFile f = SafetensorsFile.open(file)) {
      assertThat(f.tensors()).containsOnlyKeys("w");
    }
  }

  @Test
  void rejectsAHeaderThatIsNotAJsonObject() throws IOException {
    Path array = dir.resolve("array.safetensors");
    write(array, "[1, 2, 3]", new byte[0]);
    Path string = dir.resolve("string.safetensors");
    write(string, "\"tensors\"", new byte[0]);

    assertRejected(array).hasMessageContaining("header must be a JSON object");
    assertRejected(string).hasMessageContaining("header must be a JSON object");
  }

  @Test
  void rejectsDataOffsetsPastTheEndOfTheData() throws IOException {
    Path file = dir.resolve("past-end.safetensors");
    write(
        file,
        "{\"ok\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
            + "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
        new byte[8]);

    assertRejected(file)
        .hasMessageContaining("'w'")
        .hasMessageContaining("[4, 12]")
        .hasMessageContaining("past the end of the data (8 bytes)");
  }

  @Test
  void rejectsTensorsWhoseBytesOverlap() throws IOException {
    Path file = dir.resolve("overlap.safetensors");
    write(
        file,
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
            + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
        new byte[12]);

    assertRejected(file)
        .hasMessageContaining("'a'")
        .hasMessageContaining("'b'")
        .hasMessageContaining("overlaps");
  }

  @Test
  void rejectsTwoTensorsSharingTheSameBytes() throws IOException {
    Path file = dir.resolve("alias.safetensors");
    write(
        file,
        "{\"a\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]},"
            + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
        new byte[8]);

    assertRejected(file)
        .hasMessageContaining("'a'")
        .hasMessageContaining("'b'")
        .hasMessageContaining("overlaps");
  }

  @Test
  void rejectsAByteCountThatDoesNotMatchShapeTimesDtype() throws IOException {
    Path file = dir.resolve("count.safetensors");
    write(file, "{\"w\":{\"dtype\":\"BF16\",\"shape\":[3,2],\"data_offsets\":[0,8]}}", new byte[8]);

    assertRejected(file)
        .hasMessageContaining("'w'")
        .hasMessageContaining("8 bytes")
        .hasMessageContaining("needs 12");
  }

  @Test
  void rejectsNegativeOffsets() throws IOException {
    Path file = dir.resolve("negative-offsets.safetensors");
    write(file, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-4,4]}}", new byte[8]);

    assertRejected(file)
        .hasMessageContaining("'w'")
        .hasMessageContaining("[-4, 4]")
        .hasMessageContaining("not an ascending range");
  }

  @Test
  void rejectsDescendingOffsets() throws IOException {
    Path file = dir.resolve("descending.safetensors");
    write(file, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", new byte[8]);

    assertRejected(file)
        .hasMessageContaining("'w'")
        .hasMessageContaining("[8, 4]")
        .hasMessageContaining("not an ascending range");
  }

  @Test
  void rejectsAnUnknownDtype() throws IOException {
    Path file = dir.resolve("dtype.safetensors");
    write(file, "{\"w\":{\"dtype\":\"Q4_0\",\"shape\":[4],\"data_offsets\":[0,4]}}", new byte[4]);

    assertRejected(file).hasMessageContaining("'w'").hasMessageContaining("unsupported dtype Q4_0");
  }

  @Test
  void rejectsEntriesWithMissingOrMistypedFields() throws IOException {
    Path noShape = dir.resolve("no-shape.safetensors");
    write(noShape, "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", new byte[4]);
    Path badDim = dir.resolve("bad-dim.safetensors");
    write(badDim, "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", new byte[4]);
    Path badOffsets = dir.resolve("bad-offsets.safetensors");
    write(
        badOffsets, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", new byte[4]);
    Path notObject = dir.resolve("not-object.safetensors");
    write(notObject, "{\"w\":[1,2]}", new byte[4]);

    assertRejected(noShape).hasMessageContaining("'w'").hasMessageContaining("shape");
    assertRejected(badDim).hasMessageContaining("'w'").hasMessageContaining("shape dimension 0");
    assertRejected(badOffsets).hasMessageContaining("'w'").hasMessageContaining("data_offsets");
    assertRejected(notObject).hasMessageContaining("'w'");
  }

  @Test
  void rejectsMetadataThatIsNotAnObjectOfStrings() throws IOException {
    Path file = dir.resolve("meta.safetensors");
    write(file, "{\"__metadata__\":{\"format\":\"pt\",\"epoch\":3}}", new byte[0]);

    assertRejected(file).hasMessageContaining("__metadata__").hasMessageContaining("'epoch'");
  }

  // ---- helpers ----------------------------------------------------------------------------------

  private static AbstractThrowableAssert<?, ? extends Throwable> assertRejected(Path file) {
    return assertThatThrownBy(() -> SafetensorsFile.open(file).close())
        .isInstanceOf(SafetensorsException.class)
        .hasMessageContaining(file.getFileName().toString());
  }

  /** A file by hand: 8-byte little-endian header length, the header, then the data. */
  private static void write(Path file, long headerLength, String header, byte[] data)
      throws IOException {
    byte[] json = header.getBytes(StandardCharsets.UTF_8);
    ByteBuffer b =
        ByteBuffer.allocate(8 + json.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(headerLength).put(json).put(data);
    Files.write(file, b.array());
  }

  private static void write(Path file, String header, byte[] data) throws IOException {
    write(file, header.getBytes(StandardCharsets.UTF_8).length, header, data);
  }

  private static byte[] bytes(ByteBuffer b) {
    byte[] out = new byte[b.remaining()];
    b.duplicate().get(out);
    return out;
  }

  private static ByteBuffer floats(float[] values) {
    ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : values) {
      b.putFloat(v);
    }
    return b.flip();
  }

  private static ByteBuffer shorts(short[] values) {
    ByteBuffer b = ByteBuffer.allocate(values.length * 2).order(ByteOrder.LITTLE_ENDIAN);
    for (short v : values) {
      b.putShort(v);
    }
    return b.flip();
  }

  private static ByteBuffer ints(int[] values) {
    ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (int v : values) {
      b.putInt(v);
    }
    return b.flip();
  }
}
