package io.arrakis.router.cluster;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.arrakis.router.request.RolloutSettings;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The router cluster's settings ({@code arrakis.router.cluster}), read once. {@link #pekkoConfig()}
 * turns them into the Pekko settings that make the actor system a cluster member; with mode {@code
 * off} there are none and the router runs on its own without remoting, as before clusters.
 *
 * @param seeds {@code host:port} remoting addresses of seed routers (mode {@code seeds})
 * @param bootstrapSelector label selector of the router pods (mode {@code kubernetes})
 * @param requiredContactPoints router pods that must be found before the first forms the cluster
 * @param sbrStrategy split-brain resolver strategy (keep-oldest, keep-majority, static-quorum…)
 * @param stableAfter how long membership must be stable before the resolver downs unreachable
 *     routers
 * @param loadWindow each router shares its load over this window
 * @param gossipInterval how often each router publishes its load
 */
public record ClusterSettings(
    Mode mode,
    String host,
    int port,
    List<String> seeds,
    int managementPort,
    String bootstrapSelector,
    int requiredContactPoints,
    String sbrStrategy,
    Duration stableAfter,
    Duration loadWindow,
    Duration gossipInterval,
    ControllerSettings controller) {

  /** Name of the routers' actor system: members of one cluster must share it. */
  public static final String SYSTEM_NAME = "arrakis-router";

  public enum Mode {
    /** One router on its own: no remoting, no cluster. */
    OFF,
    /** Join the routers at {@link #seeds()} (local and bare-metal runs). */
    SEEDS,
    /** Find the other router pods through the Kubernetes API (Pekko Cluster Bootstrap). */
    KUBERNETES
  }

  /**
   * The placement controller (a cluster singleton).
   *
   * @param interval how often it re-plans
   * @param minImprovement publish only when the planned placement's predicted balance (max ÷ mean
   *     node load) is lower than the current one's by more than this fraction
   * @param slotsPerNode expert slots per node and layer; 0: as many as the fullest node holds now,
   *     and at least enough for every expert
   * @param rolloutTimeout how long one publication may take (every router loading and switching)
   */
  public record ControllerSettings(
      Duration interval, double minImprovement, int slotsPerNode, Duration rolloutTimeout) {
    public ControllerSettings {
      if (interval.isNegative() || interval.isZero()) {
        throw new IllegalArgumentException(
            "arrakis.router.cluster.controller.interval must be positive, got " + interval);
      }
      if (!(minImprovement >= 0 && minImprovement < 1)) {
        throw new IllegalArgumentException(
            "arrakis.router.cluster.controller.min-improvement must be in [0, 1), got "
                + minImprovement);
      }
      if (slotsPerNode < 0) {
        throw new IllegalArgumentException(
            "arrakis.router.cluster.controller.slots-per-node must be >= 0, got " + slotsPerNode);
      }
    }
  }

  public ClusterSettings {
    seeds = List.copyOf(seeds);
    if (mode == Mode.SEEDS && seeds.isEmpty()) {
      throw new IllegalArgumentException(
          "cluster mode 'seeds' needs at least one seed node (--cluster-seed host:port)");
    }
    for (String s : seeds) {
      hostPort(s);
    }
    if (loadWindow.toMillis() < 1000) {
      throw new IllegalArgumentException(
          "arrakis.router.cluster.load-window must be at least 1s, got " + loadWindow);
    }
    if (gossipInterval.isNegative() || gossipInterval.isZero()) {
      throw new IllegalArgumentException(
          "arrakis.router.cluster.gossip-interval must be positive, got " + gossipInterval);
    }
  }

  public static ClusterSettings from(Config root) {
    Config c = root.getConfig("arrakis.router.cluster");
    Config ctl = c.getConfig("controller");
    return new ClusterSettings(
        mode(c.getString("mode")),
        c.getString("host"),
        c.getInt("port"),
        splitSeeds(c.getString("seed-nodes")),
        c.getInt("management-port"),
        c.getString("bootstrap.pod-selector"),
        c.getInt("bootstrap.required-contact-points"),
        c.getString("split-brain-resolver.strategy"),
        c.getDuration("split-brain-resolver.stable-after"),
        c.getDuration("load-window"),
        c.getDuration("gossip-interval"),
        new ControllerSettings(
            ctl.getDuration("interval"),
            ctl.getDouble("min-improvement"),
            ctl.getInt("slots-per-node"),
            // every router answers within its rollout's answer time; the controller waits a margin
            // longer
            RolloutSettings.from(root).answerWithin().plus(RolloutSettings.ANSWER_MARGIN)));
  }

  public boolean enabled() {
    return mode != Mode.OFF;
  }

  /** These settings joining the seed routers {@code seeds} from {@code host:port}. */
  public ClusterSettings withSeeds(List<String> newSeeds, String newHost, int newPort) {
    return with(
        b -> {
          b.mode = Mode.SEEDS;
          b.host = newHost;
          b.port = newPort;
          b.seeds = newSeeds;
        });
  }

  public ClusterSettings withMode(Mode m) {
    return with(b -> b.mode = m);
  }

  /**
   * Pekko settings that make the actor system a member of the router cluster: remoting on {@code
   * host:port}, the seed nodes or Cluster Bootstrap, and the split-brain resolver. Empty when the
   * mode is off. Goes in front of the rest of the configuration.
   */
  public Config pekkoConfig() {
    if (mode == Mode.OFF) {
      return ConfigFactory.empty();
    }
    Map<String, Object> s = new LinkedHashMap<>();
    s.put("pekko.actor.provider", "cluster");
    s.put("pekko.remote.artery.canonical.hostname", host);
    s.put("pekko.remote.artery.canonical.port", port);
    s.put(
        "pekko.cluster.downing-provider-class",
        "org.apache.pekko.cluster.sbr.SplitBrainResolverProvider");
    s.put("pekko.cluster.split-brain-resolver.active-strategy", sbrStrategy);
    s.put("pekko.cluster.split-brain-resolver.stable-after", stableAfter.toMillis() + "ms");
    if (mode == Mode.SEEDS) {
      List<String> addresses = new ArrayList<>();
      for (String seed : seeds) {
        addresses.add("pekko://" + SYSTEM_NAME + "@" + seed);
      }
      s.put("pekko.cluster.seed-nodes", addresses);
    } else {
      s.put("pekko.management.http.hostname", host);
      s.put("pekko.management.http.port", managementPort);
      s.put(
          "pekko.management.cluster.bootstrap.contact-point-discovery.discovery-method",
          "kubernetes-api");
      s.put(
          "pekko.management.cluster.bootstrap.contact-point-discovery.required-contact-point-nr",
          requiredContactPoints);
      s.put("pekko.discovery.kubernetes-api.pod-label-selector", bootstrapSelector);
    }
    return ConfigFactory.parseMap(s, "arrakis.router.cluster");
  }

  private static Mode mode(String s) {
    try {
      return Mode.valueOf(s.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "arrakis.router.cluster.mode must be off, seeds or kubernetes, got '" + s + "'");
    }
  }

  private static List<String> splitSeeds(String s) {
    List<String> out = new ArrayList<>();
    for (String part : s.split(",")) {
      if (!part.isBlank()) {
        out.add(part.trim());
      }
    }
    return out;
  }

  /** Checks {@code host:port}. */
  static void hostPort(String s) {
    int colon = s.lastIndexOf(':');
    boolean ok = colon > 0 && colon < s.length() - 1;
    if (ok) {
      try {
        int p = Integer.parseInt(s.substring(colon + 1));
        ok = p > 0 && p < 65536;
      } catch (NumberFormatException e) {
        ok = false;
      }
    }
    if (!ok) {
      throw new IllegalArgumentException("cluster seed node '" + s + "' is not host:port");
    }
  }

  /** A copy with {@code change} applied, checked as every instance is. */
  private ClusterSettings with(Consumer<Copy> change) {
    Copy b = new Copy(this);
    change.accept(b);
    return new ClusterSettings(
        b.mode,
        b.host,
        b.port,
        b.seeds,
        b.managementPort,
        b.bootstrapSelector,
        b.requiredContactPoints,
        b.sbrStrategy,
        b.stableAfter,
        b.loadWindow,
        b.gossipInterval,
        b.controller);
  }

  /** The components of an instance, to change some before making a new one. */
  private static final class Copy {
    Mode mode;
    String host;
    int port;
    List<String> seeds;
    int managementPort;
    String bootstrapSelector;
    int requiredContactPoints;
    String sbrStrategy;
    Duration stableAfter;
    Duration loadWindow;
    Duration gossipInterval;
    ControllerSettings controller;

    Copy(ClusterSettings o) {
      mode = o.mode;
      host = o.host;
      port = o.port;
      seeds = o.seeds;
      managementPort = o.managementPort;
      bootstrapSelector = o.bootstrapSelector;
      requiredContactPoints = o.requiredContactPoints;
      sbrStrategy = o.sbrStrategy;
      stableAfter = o.stableAfter;
      loadWindow = o.loadWindow;
      gossipInterval = o.gossipInterval;
      controller = o.controller;
    }
  }
}
