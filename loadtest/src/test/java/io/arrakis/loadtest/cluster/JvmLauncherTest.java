package io.arrakis.loadtest.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The nodes that {@code ./arrakis up} and the cluster tests start, as separate JVMs. */
class JvmLauncherTest {
  static final String TEXT = "naïve café — 東京 ✓";

  @TempDir Path tmp;

  /** A node's log is UTF-8 in a C locale too, where Java 17 would otherwise write ASCII. */
  @Test
  void aChildWritesItsLogInUtf8WhateverTheLocale() throws Exception {
    String classpath =
        System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    Path log = tmp.resolve("child.log");

    Process p =
        new JvmLauncher(List.of("-Xmx64m"), classpath)
            .start(PrintsText.class.getName(), List.of(), log, Map.of("LC_ALL", "C"));

    assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("the child ended").isTrue();
    assertThat(p.exitValue()).isZero();
    assertThat(Files.readString(log, StandardCharsets.UTF_8)).contains(TEXT);
  }

  /** The child: prints {@link #TEXT} through the JVM's default charset. */
  static final class PrintsText {
    public static void main(String[] args) {
      System.out.println(TEXT);
    }
  }
}
