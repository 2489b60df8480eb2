package io.arrakis.loadtest.cluster;

import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.JarFile;
import java.util.jar.Manifest;
import java.util.stream.Stream;

/**
 * The classpath the node processes run from, with every part that a build may rewrite (class
 * folders, SNAPSHOT jars: this project's modules) copied into the state folder first. A JVM loads
 * classes lazily from its jars; rebuilding them under a running cluster (the {@code ./arrakis}
 * launcher rebuilds whenever sources change, {@code mvn install} rewrites ~/.m2) would make its
 * processes fail later with NoClassDefFoundError. Released jars never change and stay where they
 * are.
 */
final class ClasspathSnapshot {
  private ClasspathSnapshot() {}

  /** Copies what may change into {@code dir} (emptied first); returns the classpath to use. */
  static String take(String classpath, Path dir) throws IOException {
    FileTrees.delete(dir);
    Files.createDirectories(dir);
    List<String> out = new ArrayList<>();
    int i = 0;
    for (Path entry : expand(classpath)) {
      if (!Files.exists(entry)) {
        continue;
      }
      if (mutable(entry)) {
        Path copy = dir.resolve(String.format("%03d-%s", i++, entry.getFileName()));
        copyTree(entry, copy);
        out.add(copy.toString());
      } else {
        out.add(entry.toString());
      }
    }
    return String.join(File.pathSeparator, out);
  }

  private static boolean mutable(Path entry) {
    return Files.isDirectory(entry) || entry.getFileName().toString().contains("-SNAPSHOT");
  }

  /**
   * The entries of a classpath; a lone jar whose manifest names the real classpath (as Maven
   * Surefire runs tests, to keep command lines short) stands for those.
   */
  static List<Path> expand(String classpath) throws IOException {
    List<Path> entries = new ArrayList<>();
    for (String s : classpath.split(File.pathSeparator, -1)) {
      if (!s.isBlank()) {
        entries.add(Path.of(s).toAbsolutePath());
      }
    }
    if (entries.size() == 1
        && Files.isRegularFile(entries.get(0))
        && entries.get(0).toString().endsWith(".jar")) {
      List<Path> fromManifest = manifestClassPath(entries.get(0));
      if (!fromManifest.isEmpty()) {
        return fromManifest;
      }
    }
    return entries;
  }

  private static List<Path> manifestClassPath(Path jar) throws IOException {
    try (JarFile f = new JarFile(jar.toFile())) {
      Manifest m = f.getManifest();
      String cp = m == null ? null : m.getMainAttributes().getValue("Class-Path");
      if (cp == null || cp.isBlank()) {
        return List.of();
      }
      List<Path> out = new ArrayList<>();
      URI base = jar.toUri();
      for (String item : cp.trim().split("\\s+", -1)) {
        // items are URI references (encoded, relative to the jar or absolute "file:" URIs)
        try {
          out.add(Path.of(base.resolve(new URI(item))));
        } catch (URISyntaxException | IllegalArgumentException e) {
          out.add(jar.resolveSibling(item));
        }
      }
      return out;
    }
  }

  private static void copyTree(Path from, Path to) throws IOException {
    if (Files.isRegularFile(from)) {
      Files.copy(from, to, StandardCopyOption.REPLACE_EXISTING);
      return;
    }
    try (Stream<Path> files = Files.walk(from)) {
      for (Path p : files.toList()) {
        Path target = to.resolve(from.relativize(p).toString());
        if (Files.isDirectory(p)) {
          Files.createDirectories(target);
        } else {
          Files.copy(p, target, StandardCopyOption.REPLACE_EXISTING);
        }
      }
    }
  }
}
