package io.arrakis.loadtest.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.arrakis.loadtest.testing.TestClusters;
import io.arrakis.loadtest.testing.TestClusters.Layout;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.PlacementJson;
import io.arrakis.model.testing.Fixtures;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Starts that fail: a clear one-line error, the guilty log's tail, nothing left running or
 * recorded.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class LocalClusterStartFailureTest {
  @TempDir Path tmp;

  @Test
  void aProcessThatExitsBeforeServingIsNamedWithItsLog() {
    // the JVM itself refuses this option at once: a failing process without the cost of a real
    // start
    ClusterOptions o =
        TestClusters.options(Fixtures.MIXTRAL_TINY, Layout.CONTIGUOUS, tmp.resolve("state"))
            .withJvmOptions(List.of("-Xmx1q"));
    assertThatThrownBy(() -> LocalCluster.start(o))
        .isInstanceOf(ClusterException.class)
        .hasMessageMatching(
            "expert-\\d exited with code 1 before serving; last lines of .*expert-\\d\\.log:")
        .satisfies(
            e -> assertThat(((ClusterException) e).detail()).contains("Invalid maximum heap size"));
    assertThat(new StateLayout(tmp.resolve("state")).stateFile()).doesNotExist();
  }

  @Test
  void aStartPastItsDeadlineStopsWhatItStarted() throws Exception {
    ClusterOptions o =
        TestClusters.options(Fixtures.MIXTRAL_TINY, Layout.CONTIGUOUS, tmp.resolve("state"))
            .withStartTimeout(Duration.ofMillis(200));
    long before = ProcessHandle.current().children().count();
    assertThatThrownBy(() -> LocalCluster.start(o))
        .isInstanceOf(ClusterException.class)
        .hasMessageStartingWith("timed out waiting for expert-0, expert-1, expert-2 to serve");
    assertThat(ProcessHandle.current().children().filter(ProcessHandle::isAlive).count())
        .isEqualTo(before);
    assertThat(LocalCluster.attach(tmp.resolve("state"), Duration.ofSeconds(1))).isEmpty();
  }

  @Test
  void aPlacementFileThatLeavesAnExpertOutIsRefusedBeforeAnythingStarts() throws Exception {
    Path file = tmp.resolve("placement.json");
    PlacementJson.write(
        new Placement(
            3,
            List.of(
                new Placement.Node("a", null, List.of(new ExpertId(0, 0))),
                new Placement.Node("b", null, List.of(new ExpertId(1, 7))))),
        file);
    ClusterOptions o =
        new ClusterOptions(
            Fixtures.dir(Fixtures.MIXTRAL_TINY),
            null,
            1,
            null,
            file,
            0,
            0,
            null,
            tmp.resolve("state"),
            null,
            null,
            null,
            null,
            0);
    assertThatThrownBy(() -> LocalCluster.start(o))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("placement.json")
        .hasMessageContaining("no node holds experts 0:1");
    assertThat(Files.exists(tmp.resolve("state").resolve("logs"))).isFalse();
  }

  @Test
  void nodesMustMatchThePlacementFile() throws Exception {
    Path file = tmp.resolve("placement.json");
    PlacementJson.write(new Placement(1, List.of(new Placement.Node("a", null, List.of()))), file);
    ClusterOptions o =
        new ClusterOptions(
            Fixtures.dir(Fixtures.MIXTRAL_TINY),
            2,
            1,
            null,
            file,
            0,
            0,
            null,
            tmp.resolve("state"),
            null,
            null,
            null,
            null,
            0);
    assertThatThrownBy(() -> LocalCluster.start(o))
        .hasMessageContaining("has 1 nodes but --nodes says 2");
  }

  @Test
  void tlsFilesAndTokenAreCheckedBeforeAnythingStarts() throws Exception {
    ClusterOptions o =
        TestClusters.options(Fixtures.MIXTRAL_TINY, Layout.CONTIGUOUS, tmp.resolve("state"));
    Path certs = Files.createDirectories(tmp.resolve("certs"));
    assertThatThrownBy(() -> LocalCluster.start(o.withSecurity(ClusterSecurity.tls(certs))))
        .isInstanceOf(IOException.class)
        .hasMessageContaining(certs.resolve("ca.crt").toString())
        .hasMessageContaining("./arrakis certs --out");
    Path token = Files.writeString(tmp.resolve("token"), "\n");
    assertThatThrownBy(
            () ->
                LocalCluster.start(
                    o.withSecurity(ClusterSecurity.tls(null).withAuthTokenFile(token))))
        .hasMessageContaining("the bearer token file " + token + " is empty");
    Path own = new StateLayout(tmp.resolve("state")).tlsDir();
    assertThatThrownBy(() -> LocalCluster.start(o.withSecurity(ClusterSecurity.tls(own))))
        .hasMessageContaining("is where the cluster makes its own certificates");
    assertThat(Files.exists(tmp.resolve("state").resolve("logs"))).isFalse();
    assertThat(own).doesNotExist();
  }

  @Test
  void replicasCannotExceedNodes() {
    assertThatThrownBy(() -> ClusterOptions.of(Path.of("m"), 2, Path.of("s")).withStrategy(null, 3))
        .hasMessageContaining("--replicas 3 needs at least 3 nodes");
  }
}
