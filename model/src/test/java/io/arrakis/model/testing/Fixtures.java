package io.arrakis.model.testing;

import io.arrakis.model.safetensors.SafetensorsFile;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The fixtures of an independent PyTorch implementation (copied from shared/fixtures into the test
 * resources), as directories on disk, also when they come from this module's test jar.
 */
public final class Fixtures {
  public static final String MIXTRAL_TINY = "mixtral-tiny";
  public static final String QWEN_STYLE_BF16 = "qwen-style-bf16";
  private static final List<String> FILES =
      List.of(
          "config.json",
          "model.safetensors",
          "input.safetensors",
          "expected-layer0.safetensors",
          "expected-layer1.safetensors");

  private static final Map<String, Path> COPIED = new HashMap<>();

  private Fixtures() {}

  /** The fixture's directory. */
  public static synchronized Path dir(String name) {
    try {
      URL url = Fixtures.class.getResource("/fixtures/" + name + "/config.json");
      if (url == null) {
        throw new IllegalStateException("fixture " + name + " is not on the test classpath");
      }
      if (url.getProtocol().equals("file")) {
        return Path.of(url.toURI()).getParent();
      }
      // from the model module's test jar: copied once per JVM into the build folder of the module
      // running the tests (mvn clean removes it; a folder under /tmp per JVM was never removed)
      Path copied = COPIED.get(name);
      if (copied != null) {
        return copied;
      }
      Path dir = Path.of("target", "fixtures", name).toAbsolutePath();
      Files.createDirectories(dir);
      for (String f : FILES) {
        try (InputStream in = Fixtures.class.getResourceAsStream("/fixtures/" + name + "/" + f)) {
          if (in != null) {
            Files.copy(in, dir.resolve(f), StandardCopyOption.REPLACE_EXISTING);
          }
        }
      }
      COPIED.put(name, dir);
      return dir;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }

  /** A float tensor of a fixture file, row-major. */
  public static float[] floats(Path file, String tensor) throws IOException {
    try (SafetensorsFile f = SafetensorsFile.open(file)) {
      ByteBuffer b = f.bytes(tensor);
      float[] out = new float[b.remaining() / 4];
      b.order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
      return out;
    }
  }

  /** An I64 or I32 tensor of a fixture file as ints, row-major. */
  public static int[] ints(Path file, String tensor) throws IOException {
    try (SafetensorsFile f = SafetensorsFile.open(file)) {
      ByteBuffer b = f.bytes(tensor).order(ByteOrder.LITTLE_ENDIAN);
      boolean wide = f.info(tensor).dtype().size() == 8;
      int[] out = new int[b.remaining() / (wide ? 8 : 4)];
      for (int i = 0; i < out.length; i++) {
        out[i] = wide ? Math.toIntExact(b.getLong()) : b.getInt();
      }
      return out;
    }
  }

  /** The shape of a tensor in a fixture file. */
  public static long[] shape(Path file, String tensor) throws IOException {
    try (SafetensorsFile f = SafetensorsFile.open(file)) {
      return f.info(tensor).shape();
    }
  }

  /** max |expected| over the array: fixture tolerances are relative to it. */
  public static float maxAbs(float[] a) {
    float m = 0;
    for (float v : a) {
      m = Math.max(m, Math.abs(v));
    }
    return m;
  }

  /** The largest |a - b| elementwise. */
  public static float maxAbsDiff(float[] a, float[] b) {
    if (a.length != b.length) {
      throw new IllegalArgumentException("lengths differ: " + a.length + " vs " + b.length);
    }
    float m = 0;
    for (int i = 0; i < a.length; i++) {
      m = Math.max(m, Math.abs(a[i] - b[i]));
    }
    return m;
  }
}
