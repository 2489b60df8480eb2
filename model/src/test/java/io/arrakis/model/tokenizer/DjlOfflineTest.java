package io.arrakis.model.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * DJL runs offline: in a fresh JVM with an empty home, loading a tokenizer tries no network
 * connection (the probe JVM reports every connection attempt; with DJL's defaults it reports DJL
 * calling the EC2 metadata service to report usage, which shows the probe sees them) and writes
 * nothing but the native library into DJL's cache.
 */
class DjlOfflineTest {
  private static final String LIBRARY = System.mapLibraryName("tokenizers");

  /** "import os" is 5 tokens (expected.json: 75, 332, 478, 293, 85). */
  private static final String IDS = "ids 5";

  @TempDir Path tmp;

  @Test
  void loadingATokenizerDownloadsNothingAndCallsNobody() throws Exception {
    Path home = tmp.resolve("home");

    String out = probe("arrakis", Map.of("user.home", home.toString()));

    assertThat(out).contains(IDS).doesNotContain("Downloading").doesNotContain("CONNECT");
    assertThat(filesUnder(home.resolve(".djl.ai")))
        .as("DJL's cache holds only the native library copied out of the jar")
        .singleElement()
        .satisfies(f -> assertThat(f).matches("tokenizers/[^/]+-cpu-[^/]+/" + LIBRARY));
  }

  @Test
  void djlWithItsDefaultsDoesCallOutWhichIsWhatTheProbeWouldSee() throws Exception {
    String out = probe("djl-defaults", Map.of("user.home", tmp.resolve("home").toString()));

    assertThat(out).contains(IDS).contains("CONNECT 169.254.169.254:80");
  }

  @Test
  void whereTheHomeIsNotWritableAsInTheContainerImageTheLibraryGoesToTheTemporaryFolder()
      throws Exception {
    Path temporary = Files.createDirectories(tmp.resolve("tmp"));

    // root may write anywhere but under /proc (JNA, loaded by DJL, would create a missing home)
    String out =
        probe(
            "arrakis",
            Map.of("user.home", "/proc/arrakis-no-home", "java.io.tmpdir", temporary.toString()));

    assertThat(out).contains(IDS).doesNotContain("CONNECT");
    assertThat(filesUnder(temporary.resolve(".djl.ai")))
        .singleElement()
        .asString()
        .endsWith("/" + LIBRARY);
  }

  /** Runs {@link OfflineProbe} in a new JVM; returns what it printed. */
  private String probe(String mode, Map<String, String> properties) throws Exception {
    Path log = tmp.resolve(mode + ".log");
    List<String> command =
        new ArrayList<>(
            List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m",
                "-Djava.security.manager=allow",
                "-cp",
                System.getProperty("java.class.path")));
    properties.forEach((k, v) -> command.add("-D" + k + "=" + v));
    command.addAll(
        List.of(
            OfflineProbe.class.getName(),
            mode,
            ReferenceModels.dir("mixtral").resolve("tokenizer.json").toString()));
    ProcessBuilder pb =
        new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
    for (String v :
        List.of(
            "DJL_OFFLINE",
            "OPT_OUT_TRACKING",
            "DJL_CACHE_DIR",
            "ENGINE_CACHE_DIR",
            "RUST_LIBRARY_PATH")) {
      pb.environment().remove(v);
    }
    Process p = pb.start();
    boolean exited = p.waitFor(120, TimeUnit.SECONDS);
    if (!exited) {
      p.destroyForcibly();
    }
    String out = Files.readString(log);
    assertThat(exited).as("probe finished: %s", out).isTrue();
    assertThat(p.exitValue()).as("probe exit: %s", out).isZero();
    return out;
  }

  private static List<String> filesUnder(Path dir) throws IOException {
    try (Stream<Path> files = Files.walk(dir)) {
      return files
          .filter(Files::isRegularFile)
          .map(f -> dir.relativize(f).toString())
          .collect(Collectors.toList());
    }
  }
}
