package io.arrakis.loadtest.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.jar.Attributes;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ClasspathSnapshotTest {
  @TempDir Path tmp;

  @Test
  void copiesWhatABuildMayRewriteAndKeepsReleasedJars() throws Exception {
    Path classes = Files.createDirectories(tmp.resolve("target/classes/a"));
    Files.writeString(classes.resolve("A.class"), "a");
    Path snapshot = Files.writeString(tmp.resolve("arrakis-model-0.1.0-SNAPSHOT.jar"), "jar");
    Path release = Files.writeString(tmp.resolve("grpc-api-1.85.1.jar"), "jar");
    String cp =
        String.join(
            File.pathSeparator,
            tmp.resolve("target/classes").toString(),
            snapshot.toString(),
            release.toString(),
            tmp.resolve("missing.jar").toString());

    List<String> out =
        Arrays.asList(
            ClasspathSnapshot.take(cp, tmp.resolve("state/lib")).split(File.pathSeparator));

    assertThat(out).hasSize(3);
    assertThat(Path.of(out.get(0))).startsWith(tmp.resolve("state/lib"));
    assertThat(Path.of(out.get(0)).resolve("a/A.class")).hasContent("a");
    assertThat(Path.of(out.get(1))).startsWith(tmp.resolve("state/lib")).hasContent("jar");
    assertThat(out.get(2)).isEqualTo(release.toString());
    Files.writeString(snapshot, "rebuilt");
    assertThat(Path.of(out.get(1))).hasContent("jar");
  }

  @Test
  void aManifestOnlyJarStandsForItsClassPath() throws Exception {
    Path dep = Files.createDirectories(tmp.resolve("dir with space")).resolve("dep-1.0.jar");
    Files.writeString(dep, "x");
    Manifest m = new Manifest();
    m.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
    m.getMainAttributes().put(Attributes.Name.CLASS_PATH, dep.toUri().toString());
    Path booter = tmp.resolve("booter.jar");
    try (OutputStream o = Files.newOutputStream(booter);
        JarOutputStream j = new JarOutputStream(o, m)) {
      j.flush();
    }
    assertThat(ClasspathSnapshot.expand(booter.toString())).containsExactly(dep);
  }
}
