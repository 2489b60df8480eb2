package io.arrakis.loadtest.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.loadtest.testing.Forward;
import io.arrakis.loadtest.testing.Reference;
import io.arrakis.loadtest.testing.TestClusters;
import io.arrakis.loadtest.testing.TestClusters.Layout;
import io.arrakis.model.tensor.TensorCodec;
import io.arrakis.model.testing.Fixtures;
import io.arrakis.proto.v1.ClusterGrpc;
import io.arrakis.proto.v1.ClusterLoad;
import io.arrakis.proto.v1.ForwardResponse;
import io.arrakis.proto.v1.GetClusterLoadRequest;
import io.arrakis.proto.v1.GetPlacementRequest;
import io.arrakis.proto.v1.RouterLoad;
import io.arrakis.security.BearerToken;
import io.arrakis.security.ClientSecurity;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Two router JVMs in one Pekko Cluster (seed node on 127.0.0.1) in front of three expert-node JVMs:
 * the load driven through one router shows in the other's cluster-wide view; killing (kill -9) the
 * router that hosts the placement controller moves the controller to the survivor, and requests
 * through the survivor keep succeeding, numerically equal to the reference, throughout.
 */
class RouterClusterAcceptanceTest {
  private static final String FIXTURE = Fixtures.MIXTRAL_TINY;
  private static final String SECOND = "router-1";
  private static final String CONTROLLER_LINE = "placement controller running here";
  private static final Duration WAIT = Duration.ofSeconds(60);

  /** The routers' admin token, for their Cluster service. */
  private BearerToken admin;

  private final Path root = Path.of("target", "router-cluster-tests").toAbsolutePath();

  /**
   * Settings both routers get: quick failure handling for a test, a controller that re-plans often.
   */
  private static Map<String, String> clusterEnv(int seedPort, int ownPort) {
    return Map.of(
        "ARRAKIS_CLUSTER_MODE", "seeds",
        "ARRAKIS_CLUSTER_SEEDS", LocalCluster.HOST + ":" + seedPort,
        "ARRAKIS_CLUSTER_PORT", Integer.toString(ownPort),
        "ARRAKIS_SBR_STABLE_AFTER", "3s",
        "ARRAKIS_REPLAN_INTERVAL", "5s",
        "ARRAKIS_LOAD_WINDOW", "600s");
  }

  @Test
  @Timeout(value = 4, unit = TimeUnit.MINUTES)
  void loadIsSharedAndTheControllerMovesWhenItsRouterDies() throws Exception {
    // keep-majority keeps, of two equal halves, the one with the lower address: the seed router A,
    // the oldest and so the controller's host, gets the higher port, so that its death leaves B
    // standing
    int p1 = TestClusters.freePort();
    int p2 = TestClusters.freePort();
    int portA = Math.max(p1, p2);
    int portB = Math.min(p1, p2);
    ClusterOptions options =
        TestClusters.options(FIXTURE, Layout.REPLICAS_2, root.resolve("state"));
    try (LocalCluster cluster = LocalCluster.start(options, clusterEnv(portA, portA));
        Reference reference = new Reference(options.model())) {
      StateLayout layout = cluster.layout();
      List<String> args =
          new ArrayList<>(
              List.of(
                  "--model",
                  options.model().toAbsolutePath().toString(),
                  "--placement",
                  layout.placementFile().toString(),
                  "--node-id",
                  SECOND,
                  "--host",
                  LocalCluster.HOST,
                  "--port",
                  "0",
                  "--http-port",
                  "0",
                  "--port-file",
                  layout.portFile(SECOND).toString()));
      args.addAll(cluster.security().routerArgs()); // the same admin token as the first router
      admin = new BearerToken(ClientSecurity.readToken(cluster.security().adminTokenFile()));
      Process second =
          new JvmLauncher(TestClusters.JVM_OPTIONS, System.getProperty("java.class.path"))
              .start(LocalCluster.ROUTER_MAIN, args, layout.log(SECOND), clusterEnv(portA, portB));
      try {
        int secondPort =
            Readiness.await(
                    List.of(
                        new Readiness.Starting(
                            SECOND, second, layout.portFile(SECOND), layout.log(SECOND))),
                    Instant.now().plus(Duration.ofSeconds(120)),
                    ClientSecurity.PLAINTEXT)
                .get(SECOND);
        Path logA = layout.log(LocalCluster.ROUTER_ID);
        Path logB = layout.log(SECOND);
        ManagedChannel a = Forward.channel(cluster.routerAddress());
        ManagedChannel b = Forward.channel(LocalCluster.HOST + ":" + secondPort);
        try {
          // both routers in each other's view, on the same placement version (a router that joins
          // with an older placement file catches up within one controller interval). The versions
          // are
          // the routers' own: the gossiped reports can be a second old, and a report of the seed
          // from
          // before its first rollout would show the newcomer's stale version as the seed's
          awaitTrue(
              "both routers in the cluster view on one placement version",
              () -> {
                ClusterLoad view = load(b);
                return view.getRoutersCount() == 2
                    && load(a).getRoutersCount() == 2
                    && placementVersion(a) == placementVersion(b);
              });

          // load through router A only
          SplittableRandom random = new SplittableRandom(7);
          int hidden = reference.hidden();
          for (int i = 0; i < 20; i++) {
            int tokens = 1 + i % 8;
            forwardChecked(a, reference, "a-" + i, i % 2, random, tokens, hidden);
          }
          // B's cluster-wide view converges to A's, and to what A routed: 82 tokens, top-2
          long routed = 2L * (2 * (1 + 2 + 3 + 4 + 5 + 6 + 7 + 8) + (1 + 2 + 3 + 4));
          awaitTrue(
              "router B's cluster-wide load equal to router A's, all "
                  + routed
                  + " token-expert pairs",
              () -> {
                ClusterLoad viewA = load(a);
                ClusterLoad viewB = load(b);
                return total(viewB) == routed
                    && viewB.getExpertsList().equals(viewA.getExpertsList())
                    && report(viewB, LocalCluster.ROUTER_ID)
                        .getExpertsList()
                        .equals(report(viewA, LocalCluster.ROUTER_ID).getExpertsList());
              });
          ClusterLoad viewB = load(b);
          assertThat(report(viewB, LocalCluster.ROUTER_ID).getExpertsList())
              .isEqualTo(viewB.getExpertsList());
          assertThat(report(viewB, SECOND).getExpertsList())
              .as("nothing routed through B yet")
              .isEmpty();

          // the singleton runs on exactly one router
          awaitTrue("the placement controller started", () -> logs(logA, logB) == 1);
          boolean onA = count(logA) == 1;
          ProcessHandle host =
              onA ? ProcessHandle.of(cluster.routerPid()).orElseThrow() : second.toHandle();
          ManagedChannel survivor = onA ? b : a;
          Path survivorLog = onA ? logB : logA;
          int before = count(survivorLog);

          // requests through the survivor run while the controller's router is killed, and after
          AtomicBoolean stop = new AtomicBoolean();
          AtomicInteger ok = new AtomicInteger();
          List<String> failures = new CopyOnWriteArrayList<>();
          ExecutorService loop = Executors.newSingleThreadExecutor();
          Future<?> traffic =
              loop.submit(
                  () -> {
                    SplittableRandom r = new SplittableRandom(11);
                    for (int i = 0; !stop.get(); i++) {
                      try {
                        forwardChecked(survivor, reference, "s-" + i, i % 2, r, 1 + i % 8, hidden);
                        ok.incrementAndGet();
                      } catch (StatusRuntimeException | AssertionError | IOException e) {
                        failures.add("request s-" + i + ": " + e);
                      }
                    }
                    return null;
                  });
          try {
            awaitTrue("requests through the survivor before the kill", () -> ok.get() >= 5);
            host.destroyForcibly(); // SIGKILL: no leaving, the cluster must find out
            host.onExit().get(30, TimeUnit.SECONDS);
            awaitTrue(
                "the placement controller running on the survivor",
                () -> count(survivorLog) > before);
            awaitTrue(
                "the dead router gone from the survivor's view",
                () -> load(survivor).getRoutersCount() == 1);
            int afterMove = ok.get();
            awaitTrue(
                "requests through the survivor after the move", () -> ok.get() >= afterMove + 10);
          } finally {
            stop.set(true);
            traffic.get(60, TimeUnit.SECONDS);
            loop.shutdown();
          }
          assertThat(failures).as("failed requests through the surviving router").isEmpty();
          assertThat(ok.get()).isGreaterThan(15);
        } finally {
          a.shutdownNow();
          b.shutdownNow();
        }
      } finally {
        second.destroy();
        second.waitFor(30, TimeUnit.SECONDS);
        second.destroyForcibly();
      }
    }
  }

  private static void forwardChecked(
      ManagedChannel channel,
      Reference reference,
      String id,
      int layer,
      SplittableRandom random,
      int tokens,
      int hidden)
      throws IOException {
    float[] x = new float[tokens * hidden];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) random.nextGaussian();
    }
    ForwardResponse r = Forward.call(channel, id, layer, x, tokens, hidden);
    float[] got = TensorCodec.floats(r.getOutput());
    float[] want = reference.forward(layer, x, tokens).output();
    assertThat(got).hasSameSizeAs(want);
    for (int i = 0; i < got.length; i++) {
      assertThat(Math.abs(got[i] - want[i]))
          .as("%s output[%d]", id, i)
          .isLessThanOrEqualTo(1e-5f + 1e-4f * Math.abs(want[i]));
    }
  }

  private ClusterLoad load(ManagedChannel channel) {
    return ClusterGrpc.newBlockingStub(channel)
        .withCallCredentials(admin)
        .withDeadlineAfter(10, TimeUnit.SECONDS)
        .getClusterLoad(GetClusterLoadRequest.getDefaultInstance());
  }

  private long placementVersion(ManagedChannel channel) {
    return ClusterGrpc.newBlockingStub(channel)
        .withCallCredentials(admin)
        .withDeadlineAfter(10, TimeUnit.SECONDS)
        .getPlacement(GetPlacementRequest.getDefaultInstance())
        .getVersion();
  }

  private static long total(ClusterLoad view) {
    return view.getExpertsList().stream().mapToLong(e -> e.getTokens()).sum();
  }

  private static RouterLoad report(ClusterLoad view, String routerId) {
    return view.getRoutersList().stream()
        .filter(r -> r.getRouterId().equals(routerId))
        .findFirst()
        .orElseThrow(
            () -> new AssertionError("no report of " + routerId + " in " + view.getRoutersList()));
  }

  private static int logs(Path a, Path b) {
    return count(a) + count(b);
  }

  /** Lines saying the placement controller started in this router's log. */
  private static int count(Path log) {
    try {
      return (int)
          Files.readAllLines(log).stream().filter(l -> l.contains(CONTROLLER_LINE)).count();
    } catch (IOException e) {
      return 0;
    }
  }

  private static void awaitTrue(String what, BooleanSupplier condition)
      throws InterruptedException {
    Instant deadline = Instant.now().plus(WAIT);
    Throwable last = null;
    while (Instant.now().isBefore(deadline)) {
      try {
        if (condition.getAsBoolean()) {
          return;
        }
      } catch (StatusRuntimeException | AssertionError e) {
        last = e;
      }
      Thread.sleep(200);
    }
    throw new AssertionError(
        "timed out after " + WAIT + " waiting for " + what + (last == null ? "" : ": " + last));
  }
}
