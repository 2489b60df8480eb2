package io.arrakis.expert;

import static org.assertj.core.api.Assertions.assertThat;

import io.arrakis.model.gating.Routing;
import io.arrakis.model.moe.MoeModel;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.PlacementJson;
import io.arrakis.model.safetensors.SafetensorsFile;
import io.arrakis.model.tensor.NdArrays;
import io.arrakis.model.testing.Fixtures;
import io.arrakis.proto.v1.Assignment;
import io.arrakis.proto.v1.ComputeRequest;
import io.arrakis.proto.v1.DescribeRequest;
import io.arrakis.proto.v1.ExpertGrpc;
import io.arrakis.telemetry.testing.Scrape;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.io.File;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;

/** {@code arrakis expert} as an operator runs it: its own JVM, options on the command line. */
class ExpertNodeProcessTest {

  @Test
  void placementChoosesTheExpertsAndMetricsAreServed(@TempDir Path work) throws Exception {
    Path dir = Fixtures.dir(Fixtures.MIXTRAL_TINY);
    List<ExpertId> mine = new ArrayList<>();
    for (int e = 4; e < 8; e++) {
      mine.add(new ExpertId(1, e));
    }
    Placement placement =
        new Placement(
            2,
            List.of(
                new Placement.Node(
                    "expert-a", null, List.of(new ExpertId(0, 0), new ExpertId(1, 0))),
                new Placement.Node("expert-b", null, mine)));
    Path file = work.resolve("placement.json");
    PlacementJson.write(placement, file);
    ComputeRequest req;
    try (MoeModel model = MoeModel.open(dir);
        SafetensorsFile in = SafetensorsFile.open(dir.resolve("input.safetensors"))) {
      INDArray x = NdArrays.readFloat(in, "hidden_states");
      Routing routing = model.gate(1).route(x);
      req = Batches.fromRouting("b", 1, x, routing, 8, e -> e >= 4);
    }
    int metricsPort = freePort();

    try (NodeProcess node =
        NodeProcess.start(
            work,
            List.of(),
            "--model",
            dir.toString(),
            "--placement",
            file.toString(),
            "--node-id",
            "expert-b",
            "--threads",
            "1",
            "--metrics-port",
            Integer.toString(metricsPort))) {
      ManagedChannel channel =
          NettyChannelBuilder.forAddress("127.0.0.1", node.port).usePlaintext().build();
      try {
        var stub = ExpertGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
        assertThat(stub.describe(DescribeRequest.getDefaultInstance()).getExpertsList())
            .containsExactlyElementsOf(mine.stream().map(ExpertId::toProto).toList());
        stub.compute(req);

        Scrape scrape = Scrape.of("127.0.0.1", metricsPort);
        assertThat(scrape.value("arrakis_expert_batches_total", "node", "expert-b")).hasValue(1);
        assertThat(scrape.value("arrakis_expert_device", "node", "expert-b", "backend", "cpu"))
            .hasValue(1);
        assertThat(scrape.value("arrakis_expert_weight_bytes", "node", "expert-b")).isPresent();
        for (Assignment a : req.getAssignmentsList()) {
          assertThat(
                  scrape.value(
                      "arrakis_expert_expert_tokens_total",
                      "node",
                      "expert-b",
                      "layer",
                      "1",
                      "expert",
                      Integer.toString(a.getExpert())))
              .hasValue(a.getRowsCount());
        }
      } finally {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  @Test
  void aStartUpErrorIsOneLineAndExitCodeOne(@TempDir Path work) throws Exception {
    Path missing = work.resolve("no-such-model");
    NodeProcess.Exited exited = NodeProcess.runToExit(work, "--model", missing.toString());
    assertThat(exited.code()).isEqualTo(1);
    assertThat(exited.output().lines())
        .containsExactly("error: model directory " + missing + " does not exist");
  }

  @Test
  void aMachineWithoutAUsableBackendGetsOneClearErrorLine(@TempDir Path work) throws Exception {
    // the CPU backend without ND4J's natives (as in the GPU bundle)
    String withoutNatives =
        Arrays.stream(System.getProperty("java.class.path").split(File.pathSeparator))
            .filter(entry -> !entry.contains("nd4j-native"))
            .collect(Collectors.joining(File.pathSeparator));

    NodeProcess.Exited exited =
        NodeProcess.runToExitWithClasspath(
            work,
            withoutNatives,
            "--model",
            Fixtures.dir(Fixtures.MIXTRAL_TINY).toString(),
            "--port",
            "0");

    assertThat(exited.code()).isEqualTo(1);
    assertThat(exited.output().lines().filter(l -> l.startsWith("error: ")))
        .singleElement()
        .asString()
        .startsWith("error: ND4J's CPU backend could not start on this machine");
    assertThat(exited.output()).doesNotContain("ExceptionInInitializerError", "\tat ");
  }

  @Test
  void cudaOnAMachineWithoutCudaIsRefusedInOneLineSayingWhatIsMissing(@TempDir Path work)
      throws Exception {
    Assumptions.assumeFalse(
        Files.exists(Path.of("/dev/nvidia0")), "this machine has an NVIDIA GPU");
    NodeProcess.Exited exited =
        NodeProcess.runToExit(
            work,
            "--model",
            Fixtures.dir(Fixtures.MIXTRAL_TINY).toString(),
            "--port",
            "0",
            "--device",
            "cuda");

    assertThat(exited.code()).isEqualTo(1);
    assertThat(exited.output().lines().filter(l -> l.startsWith("error: ")))
        .singleElement()
        .asString()
        .startsWith("error: --device cuda: ")
        .containsAnyOf(
            "no NVIDIA driver on this machine (libcuda.so",
            "libcudart.so.13 could not be loaded",
            "no CUDA device");
    assertThat(exited.output()).doesNotContain("\tat ", "UnsatisfiedLinkError");
  }

  @Test
  void anUnknownDeviceIsRefused(@TempDir Path work) throws Exception {
    NodeProcess.Exited exited =
        NodeProcess.runToExit(
            work,
            "--model",
            Fixtures.dir(Fixtures.MIXTRAL_TINY).toString(),
            "--port",
            "0",
            "--device",
            "tpu");

    assertThat(exited.code()).isEqualTo(1);
    assertThat(exited.output().lines())
        .contains("error: --device must be cpu, cuda or cuda:N, got 'tpu'");
  }

  private static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }
}
