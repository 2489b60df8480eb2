package io.arrakis.loadtest.placement;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.loadtest.cluster.LocalCluster;
import io.arrakis.loadtest.load.ClosedLoopDriver;
import io.arrakis.loadtest.load.InputBias;
import io.arrakis.loadtest.load.LoadOptions;
import io.arrakis.loadtest.load.LoadResult;
import io.arrakis.loadtest.load.Progress;
import io.arrakis.loadtest.load.TokenCounts;
import io.arrakis.loadtest.testing.TestClusters;
import io.arrakis.loadtest.testing.TestClusters.Key;
import io.arrakis.loadtest.testing.TestClusters.Layout;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.PlacementJson;
import io.arrakis.model.testing.Fixtures;
import io.arrakis.security.ClientSecurity;
import io.grpc.ManagedChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The placement loop on a real 3-node cluster under light load: export the router's load, plan a
 * balanced placement from it, roll it out with {@code apply}; no call may fail, and the router must
 * serve the new version. A stale version is refused with one error line.
 */
class ApplyLiveTest {
  @TempDir Path tmp;

  @Test
  @Timeout(value = 240, unit = TimeUnit.SECONDS)
  void exportPlanApplyUnderLoad() throws Exception {
    try (TestClusters clusters =
        new TestClusters(Path.of("target", "placement-tests").toAbsolutePath())) {
      LocalCluster cluster = clusters.get(new Key(Fixtures.MIXTRAL_TINY, Layout.CONTIGUOUS));
      String router = cluster.routerAddress();
      // a router other than the local cluster's default one: the admin token is given as a flag
      String admin = cluster.security().adminTokenFile().toString();
      Placement before = currentPlacement(router, cluster.security().routerClient());

      LoadOptions light =
          LoadOptions.of(router, Duration.ofSeconds(8), 2, TokenCounts.parse("1-8"));
      float[] bias = InputBias.read(Fixtures.dir(Fixtures.MIXTRAL_TINY));
      CompletableFuture<LoadResult> load =
          CompletableFuture.supplyAsync(
              () -> {
                try {
                  return new ClosedLoopDriver(light, bias).run(Progress.Listener.NONE);
                } catch (InterruptedException e) {
                  throw new IllegalStateException(e);
                }
              });
      Thread.sleep(2_000);

      Path loads = tmp.resolve("loads.json");
      Cli export =
          Cli.run(
              "placement",
              "export-loads",
              "--target",
              router,
              "--admin-token-file",
              admin,
              "--output",
              loads.toString());
      assertThat(export.code()).as("%s", export).isZero();
      Path current = tmp.resolve("current.json");
      PlacementJson.write(before, current);
      Path planned = tmp.resolve("planned.json");
      Cli plan =
          Cli.run(
              "placement",
              "plan",
              "--loads",
              loads.toString(),
              "--experts",
              "8",
              "--nodes",
              "3",
              "--slots-per-node",
              "4",
              "--strategy",
              "balanced",
              "--current",
              current.toString(),
              "--output",
              planned.toString());
      assertThat(plan.code()).as("%s", plan).isZero();

      Cli apply =
          Cli.run(
              "placement",
              "apply",
              "--target",
              router,
              "--admin-token-file",
              admin,
              "--placement",
              planned.toString());
      assertThat(apply.code()).as("%s", apply).isZero();
      long version = before.version() + 1;
      assertThat(apply.out())
          .containsPattern(
              "placement version " + version + " applied: [1-9]\\d* experts loaded, \\d+ unloaded");

      LoadResult r = load.get(60, TimeUnit.SECONDS);
      assertThat(r.sent()).isPositive();
      assertThat(r.unanswered()).isZero();
      assertThat(r.failed()).as("%s", r.byStatus()).isZero();
      Placement after = currentPlacement(router, cluster.security().routerClient());
      assertThat(after.version()).isEqualTo(version);
      assertThat(after.nodes()).allSatisfy(n -> assertThat(n.address()).startsWith("127.0.0.1:"));

      Cli stale =
          Cli.run(
              "placement",
              "apply",
              "--target",
              router,
              "--admin-token-file",
              admin,
              "--placement",
              planned.toString());
      assertThat(stale.code()).isEqualTo(1);
      assertThat(stale.err())
          .startsWith(
              "error: SetPlacement on the router at " + router + " failed: FAILED_PRECONDITION")
          .hasLineCount(1);
    }
  }

  private static Placement currentPlacement(String router, ClientSecurity admin) throws Exception {
    ManagedChannel channel = RouterAdmin.connect(router, admin);
    try {
      return new RouterAdmin(channel, router, admin).placement();
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }
}
