package io.arrakis.loadtest.cluster;

import java.nio.file.Path;

/** Where a local cluster keeps its files, all under one state folder. */
public record StateLayout(Path root) {
  public StateLayout {
    root = root.toAbsolutePath().normalize();
  }

  /** The cluster's processes, ports and placement ({@link ClusterStateJson}). */
  public Path stateFile() {
    return root.resolve("cluster.json");
  }

  /** The placement with every node's address: what the router routes by. */
  public Path placementFile() {
    return root.resolve("placement.json");
  }

  /** The placement before the nodes had addresses: what each expert node reads its experts from. */
  public Path planFile() {
    return root.resolve("placement-plan.json");
  }

  /** Held while a command starts (or, for the demo, runs) the cluster of this folder. */
  public Path lockFile() {
    return root.resolve("lock");
  }

  /**
   * The copies of the classpath's mutable parts the processes run from ({@link ClasspathSnapshot}).
   */
  public Path libDir() {
    return root.resolve("lib");
  }

  /**
   * The CA and certificates of {@code up --tls} without {@code --tls-dir}: made at start, removed
   * at stop.
   */
  public Path tlsDir() {
    return root.resolve("tls");
  }

  /** The router's admin token when {@code up} was given none: made at start, removed at stop. */
  public Path adminTokenFile() {
    return root.resolve("admin-token");
  }

  public Path log(String processId) {
    return root.resolve("logs").resolve(processId + ".log");
  }

  public Path portFile(String processId) {
    return root.resolve("run").resolve(processId + ".port");
  }
}
