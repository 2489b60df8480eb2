package io.arrakis.loadtest.placement;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.PlacementJson;
import io.arrakis.model.placement.planner.Loads;
import io.arrakis.proto.v1.ClusterGrpc;
import io.arrakis.proto.v1.ExpertLoad;
import io.arrakis.proto.v1.GetLoadStatsRequest;
import io.arrakis.proto.v1.LoadStats;
import io.arrakis.proto.v1.NodeLoad;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalInt;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code placement plan} and {@code placement export-loads} (the latter against a fake Cluster
 * service on a real port).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class PlacementCommandsTest {
  @TempDir Path tmp;

  private Path skewedLoads() throws Exception {
    Path f = tmp.resolve("loads.json");
    Files.writeString(
        f, "{\"layers\": [[900, 300, 100, 50, 20, 10, 5, 1], [10, 10, 500, 10, 10, 10, 10, 200]]}");
    return f;
  }

  @Test
  void planWritesAPlacementAndPrintsItsBalance() throws Exception {
    Path out = tmp.resolve("p.json");
    Cli r =
        Cli.run(
            "placement",
            "plan",
            "--loads",
            skewedLoads().toString(),
            "--nodes",
            "4",
            "--slots-per-node",
            "3",
            "--strategy",
            "balanced",
            "--output",
            out.toString());
    assertThat(r.code()).as("%s", r).isZero();
    assertThat(r.out())
        .containsPattern("balance +\\d\\.\\d{3} \\(worst layer \\d\\.\\d{3}\\) predicted")
        .contains("wrote");
    Placement p = PlacementJson.read(out);
    assertThat(p.nodes()).hasSize(4);
    p.checkCovers(List.of(0, 1), 8);
    // the hot expert 0:0 (56% of layer 0) is worth replicas on several nodes
    assertThat(p.holders(new ExpertId(0, 0)).size()).isGreaterThan(1);

    Path cont = tmp.resolve("c.json");
    Cli c =
        Cli.run(
            "placement",
            "plan",
            "--loads",
            skewedLoads().toString(),
            "--nodes",
            "4",
            "--slots-per-node",
            "3",
            "--strategy",
            "contiguous",
            "--output",
            cont.toString());
    assertThat(c.code()).as("%s", c).isZero();
    assertThat(predicted(c.out())).isGreaterThan(predicted(r.out()));
  }

  @Test
  void planWithCurrentReportsMovesAndTheCurrentBalance() throws Exception {
    Path first = tmp.resolve("v1.json");
    assertThat(
            Cli.run(
                    "placement",
                    "plan",
                    "--loads",
                    skewedLoads().toString(),
                    "--nodes",
                    "4",
                    "--slots-per-node",
                    "2",
                    "--strategy",
                    "round-robin",
                    "--output",
                    first.toString())
                .code())
        .isZero();
    Path second = tmp.resolve("v2.json");
    Cli r =
        Cli.run(
            "placement",
            "plan",
            "--loads",
            skewedLoads().toString(),
            "--nodes",
            "4",
            "--slots-per-node",
            "3",
            "--current",
            first.toString(),
            "--replicas-per-layer",
            "10",
            "--balance-slack",
            "0.01",
            "--output",
            second.toString());
    assertThat(r.code()).as("%s", r).isZero();
    assertThat(r.out())
        .containsPattern("current +\\d\\.\\d{3}")
        .containsPattern("moved +\\d+ experts loaded, \\d+ dropped");
    assertThat(PlacementJson.read(second).version()).isEqualTo(2);
  }

  @Test
  void badInputIsOneErrorLine() throws Exception {
    Path out = tmp.resolve("p.json");
    Cli strategy =
        Cli.run(
            "placement",
            "plan",
            "--loads",
            skewedLoads().toString(),
            "--nodes",
            "4",
            "--slots-per-node",
            "3",
            "--strategy",
            "random",
            "--output",
            out.toString());
    assertThat(strategy.code()).isEqualTo(1);
    assertThat(strategy.err()).startsWith("error: unknown strategy 'random'").hasLineCount(1);

    Cli tooFew =
        Cli.run(
            "placement",
            "plan",
            "--loads",
            skewedLoads().toString(),
            "--nodes",
            "2",
            "--slots-per-node",
            "3",
            "--output",
            out.toString());
    assertThat(tooFew.code()).isEqualTo(1);
    assertThat(tooFew.err())
        .startsWith("error: 2 nodes × 3 slots per node = 6 slots")
        .hasLineCount(1);

    Cli missing =
        Cli.run(
            "placement",
            "plan",
            "--loads",
            tmp.resolve("none.json").toString(),
            "--nodes",
            "4",
            "--slots-per-node",
            "3",
            "--output",
            out.toString());
    assertThat(missing.err()).startsWith("error: no such file").hasLineCount(1);
    assertThat(Files.exists(out)).isFalse();

    Cli target =
        Cli.run("placement", "apply", "--target", "nowhere", "--placement", out.toString());
    assertThat(target.code()).isEqualTo(1);
    assertThat(target.err()).startsWith("error: ").hasLineCount(1);
  }

  @Test
  void everyCommandHasHelp() {
    for (List<String> cmd :
        List.of(
            List.of("placement"),
            List.of("placement", "plan"),
            List.of("placement", "apply"),
            List.of("placement", "export-loads"),
            List.of("bench"),
            List.of("bench", "kernel"))) {
      String[] args = Stream.concat(cmd.stream(), Stream.of("--help")).toArray(String[]::new);
      Cli r = Cli.run(args);
      assertThat(r.code()).as("%s", cmd).isZero();
      assertThat(r.out()).as("%s", cmd).startsWith("Usage: arrakis " + String.join(" ", cmd));
    }
  }

  @Test
  void exportLoadsWritesWhatPlanReads() throws Exception {
    AtomicLong askedSince = new AtomicLong(-1);
    LoadStats stats =
        LoadStats.newBuilder()
            .setSinceUnixMs(1000)
            .setUntilUnixMs(2000)
            .addExperts(load(0, 0, 700))
            .addExperts(load(0, 3, 100))
            .addExperts(load(1, 1, 5_000_000_000L))
            .addNodes(NodeLoad.newBuilder().setNodeId("expert-0").setTokens(800).setBatches(9))
            .build();
    Server server =
        NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
            .addService(
                new ClusterGrpc.ClusterImplBase() {
                  @Override
                  public void getLoadStats(
                      GetLoadStatsRequest request, StreamObserver<LoadStats> out) {
                    askedSince.set(request.getSinceUnixMs());
                    out.onNext(stats);
                    out.onCompleted();
                  }
                })
            .build()
            .start();
    try {
      String target = "127.0.0.1:" + server.getPort();
      Path loads = tmp.resolve("exported.json");
      Cli r =
          Cli.run(
              "placement",
              "export-loads",
              "--target",
              target,
              "--since",
              "5m",
              "--output",
              loads.toString());
      assertThat(r.code()).as("%s", r).isZero();
      assertThat(r.out()).contains("3 experts", "1 nodes");
      assertThat(askedSince.get())
          .isBetween(
              System.currentTimeMillis() - 300_000 - 60_000, System.currentTimeMillis() - 300_000);
      Loads l = Loads.read(loads, OptionalInt.of(4));
      assertThat(l.layers()).containsExactly(0, 1);
      assertThat(l.tokens(0)).containsExactly(700, 0, 0, 100);
      assertThat(l.tokens(1, 1)).isEqualTo(5e9);

      Cli plan =
          Cli.run(
              "placement",
              "plan",
              "--loads",
              loads.toString(),
              "--experts",
              "4",
              "--nodes",
              "2",
              "--slots-per-node",
              "3",
              "--output",
              tmp.resolve("p.json").toString());
      assertThat(plan.code()).as("%s", plan).isZero();
    } finally {
      server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  @Test
  void applyFillsMissingAddressesFromTheRouter() {
    Placement current =
        new Placement(
            3,
            List.of(
                new Placement.Node("expert-0", "127.0.0.1:1", List.of()),
                new Placement.Node("expert-1", "127.0.0.1:2", List.of())));
    Placement wanted =
        new Placement(
            4,
            List.of(
                new Placement.Node("expert-0", null, List.of(new ExpertId(0, 0))),
                new Placement.Node("expert-1", "10.0.0.1:5", List.of()),
                new Placement.Node("expert-9", null, List.of())));
    Placement p = RouterAdmin.withAddresses(wanted, current);
    assertThat(p.nodes())
        .extracting(Placement.Node::address)
        .containsExactly("127.0.0.1:1", "10.0.0.1:5", null);
    assertThat(p.version()).isEqualTo(4);
  }

  private static ExpertLoad load(int layer, int expert, long tokens) {
    return ExpertLoad.newBuilder()
        .setExpert(new ExpertId(layer, expert).toProto())
        .setTokens(tokens)
        .build();
  }

  private static double predicted(String out) {
    Matcher m = Pattern.compile("balance +(\\d\\.\\d{3})").matcher(out);
    assertThat(m.find()).as(out).isTrue();
    return Double.parseDouble(m.group(1));
  }
}
