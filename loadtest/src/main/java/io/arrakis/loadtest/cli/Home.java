package io.arrakis.loadtest.cli;

import java.nio.file.Path;

/**
 * Where the commands keep their files: {@code $ARRAKIS_HOME/.arrakis} (the checkout, set by the
 * {@code ./arrakis} launcher; git-ignored), or {@code ./.arrakis} when run otherwise.
 */
record Home(Path root) {
  static Home fromEnvironment() {
    String home = System.getenv("ARRAKIS_HOME");
    return new Home(
        Path.of(home == null || home.isBlank() ? "." : home).toAbsolutePath().normalize());
  }

  Path dotDir() {
    return root.resolve(".arrakis");
  }

  /** The cluster of {@code up}, {@code status}, {@code down}. */
  Path clusterState() {
    return dotDir().resolve("cluster");
  }

  /** The demo's own cluster, so that it never touches one that {@code up} started. */
  Path demoState() {
    return dotDir().resolve("demo-cluster");
  }

  /** The cluster {@code placement compare} starts for itself. */
  Path compareState() {
    return dotDir().resolve("compare-cluster");
  }

  /** The cluster and the generated models of {@code bench cluster}. */
  Path benchState() {
    return dotDir().resolve("bench-cluster");
  }

  Path benchModels() {
    return dotDir().resolve("bench-models");
  }

  Path demoModel() {
    return dotDir().resolve("demo-model");
  }
}
