package io.arrakis.engine.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.engine.testing.ReferenceModels;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code ./arrakis} launcher prints text in UTF-8 whatever the locale: in a C locale (no LANG,
 * as in many minimal containers) Java 17 takes ASCII as its default charset and would print '?' for
 * every non-ASCII character of a completion.
 *
 * <p>The launcher runs from a copy of the project's home that holds only it, a build stamp (so it
 * builds nothing) and this module's classpath: {@code ./arrakis model run} as a user runs it.
 */
class LauncherEncodingTest {
  @TempDir Path home;
  @TempDir Path out;

  @Test
  @Timeout(value = 4, unit = TimeUnit.MINUTES)
  void aCLocalePrintsTheSameUtf8AsAUtf8Locale() throws Exception {
    installLauncher();
    String utf8 = modelRun("C.UTF-8");
    String c = modelRun("C");

    assertThat(utf8)
        .as("the completion's text has non-ASCII characters")
        .containsPattern("[^\\x00-\\x7F]");
    assertThat(c).isEqualTo(utf8);
  }

  /** The launcher, a stamp newer than every source there (none), and the module's classpath. */
  private void installLauncher() throws IOException {
    Path launcher = home.resolve("arrakis");
    Files.copy(Path.of("..", "arrakis"), launcher, StandardCopyOption.COPY_ATTRIBUTES);
    Files.createDirectories(home.resolve(".arrakis"));
    Files.writeString(home.resolve(".arrakis/build.stamp"), "");
    Path target = home.resolve("engine/target");
    Files.createDirectories(target.resolve("classes"));
    // surefire runs tests from a manifest-only jar and names the real classpath in this property
    String classpath =
        System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    Files.writeString(target.resolve("classpath.txt"), classpath);
  }

  /** The stdout of {@code ./arrakis model run} (greedy, 24 tokens) in {@code locale}, as UTF-8. */
  private String modelRun(String locale) throws Exception {
    Path stdout = out.resolve(locale + ".out");
    Path stderr = out.resolve(locale + ".err");
    ProcessBuilder pb =
        new ProcessBuilder(
                "bash",
                home.resolve("arrakis").toString(),
                "model",
                "run",
                "--model",
                ReferenceModels.dir("mixtral").toString(),
                "--prompt",
                "hello",
                "--max-tokens",
                "24",
                "--ignore-eos")
            .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
            .redirectOutput(stdout.toFile())
            .redirectError(stderr.toFile());
    Map<String, String> env = pb.environment();
    env.keySet().removeIf(k -> k.startsWith("LC_") || k.equals("LANG") || k.equals("LANGUAGE"));
    env.put("LC_ALL", locale);
    env.put("ARRAKIS_JAVA_OPTS", "-XX:+UseSerialGC -XX:TieredStopAtLevel=1");
    // the natives this build has unpacked already, not a second copy in the user's cache
    String cache = System.getProperty("org.bytedeco.javacpp.cachedir");
    if (cache != null) {
      env.put("ARRAKIS_JAVACPP_CACHE", cache);
    }
    Process p = pb.start();
    if (!p.waitFor(3, TimeUnit.MINUTES)) {
      p.destroyForcibly();
      throw new AssertionError("model run did not end in 3 minutes: " + Files.readString(stderr));
    }
    assertThat(p.exitValue()).as("%s", Files.readString(stderr)).isZero();
    return new String(Files.readAllBytes(stdout), StandardCharsets.UTF_8);
  }
}
