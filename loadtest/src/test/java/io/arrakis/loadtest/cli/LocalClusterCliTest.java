package io.arrakis.loadtest.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.arrakis.loadtest.testing.TestClusters;
import io.arrakis.model.testing.Fixtures;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code up}, {@code status --json}, {@code loadtest --json}, {@code down} on real processes: the
 * cluster outlives the command that started it, the load tester accounts for every call, and {@code
 * down} stops everything (and may run twice).
 */
class LocalClusterCliTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path tmp;

  @AfterEach
  void cleanUp() {
    CliRun.of("down", "--state-dir", tmp.resolve("state").toString(), "--grace", "2s");
  }

  @Test
  @Timeout(value = 240, unit = TimeUnit.SECONDS)
  void upStatusLoadtestDown() throws Exception {
    String state = tmp.resolve("state").toString();
    String model = Fixtures.dir(Fixtures.MIXTRAL_TINY).toString();
    CliRun up =
        CliRun.of(
            "up",
            "--model",
            model,
            "--nodes",
            "2",
            "--strategy",
            "round-robin",
            "--port",
            "0",
            "--http-port",
            "0",
            "--threads",
            "1",
            "--java-opts",
            String.join(" ", TestClusters.JVM_OPTIONS),
            "--state-dir",
            state);
    assertThat(up.code()).as("%s", up).isZero();
    assertThat(up.out())
        .containsPattern("(?m)^router 127\\.0\\.0\\.1:\\d+$")
        .contains("local cluster up in");
    assertThat(up.err().lines().filter(l -> l.startsWith("warning:")))
        .as("plaintext stays allowed on 127.0.0.1, with one warning line")
        .containsExactly(
            "warning: plaintext gRPC on 127.0.0.1 (no TLS): for local development only (--tls for TLS)");
    assertThat(up.out()).doesNotContain("security");

    JsonNode status = JSON.readTree(CliRun.of("status", "--json", "--state-dir", state).out());
    assertThat(status.path("running").asBoolean()).isTrue();
    assertThat(status.path("serving").asBoolean()).isTrue();
    int routerPort = status.path("router").path("port").asInt();
    assertThat(routerPort).isPositive();
    assertThat(up.out()).contains("router 127.0.0.1:" + routerPort);
    int httpPort = status.path("router").path("http_port").asInt();
    assertThat(httpPort).isPositive().isNotEqualTo(routerPort);
    assertThat(up.out()).contains("HTTP API   http://127.0.0.1:" + httpPort + "/v1");
    assertThat(
            HttpClient.newHttpClient()
                .send(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + httpPort + "/health"))
                        .build(),
                    HttpResponse.BodyHandlers.ofString())
                .statusCode())
        .isEqualTo(200);
    List<Long> pids = new ArrayList<>(List.of(status.path("router").path("pid").asLong()));
    assertThat(status.path("experts")).hasSize(2);
    int held = 0;
    for (JsonNode n : status.path("experts")) {
      assertThat(n.path("id").asText()).matches("expert-[01]");
      assertThat(n.path("port").asInt()).isPositive();
      assertThat(n.path("alive").asBoolean()).isTrue();
      held += n.path("experts").size();
      pids.add(n.path("pid").asLong());
    }
    assertThat(held).as("2 layers x 8 experts, each once").isEqualTo(16);
    for (long pid : pids) {
      assertThat(ProcessHandle.of(pid)).as("pid %d", pid).isPresent();
      // the caller's session, so with autogroup scheduling its CPU group too (JvmLauncher)
      assertThat(session(pid))
          .as("session of pid %d", pid)
          .isEqualTo(session(ProcessHandle.current().pid()));
    }

    CliRun again =
        CliRun.of("up", "--model", model, "--nodes", "2", "--port", "0", "--state-dir", state);
    assertThat(again.code()).isEqualTo(1);
    assertThat(again.err())
        .startsWith("error: a local cluster is already running: router pid " + pids.get(0));

    Path report = tmp.resolve("report.json");
    CliRun load =
        CliRun.of(
            "loadtest",
            "--state-dir",
            state,
            "--duration",
            "3s",
            "--warmup",
            "0s",
            "--concurrency",
            "4",
            "--tokens",
            "1-8",
            "--json",
            report.toString());
    assertThat(load.code()).as("%s", load).isZero();
    assertThat(load.out()).contains("unanswered 0", "imbalance");
    JsonNode r = JSON.readTree(Files.readString(report));
    assertThat(r.path("target").asText()).isEqualTo("127.0.0.1:" + routerPort);
    assertThat(r.path("sent").asLong()).isPositive();
    assertThat(r.path("sent").asLong())
        .isEqualTo(r.path("ok").asLong() + r.path("failed").asLong());
    assertThat(r.path("unanswered").asLong()).isZero();
    assertThat(r.path("failed").asLong()).isZero();
    assertThat(r.path("by_status").path("OK").asLong()).isEqualTo(r.path("ok").asLong());
    assertThat(r.path("tokens_per_s").asDouble()).isPositive();
    assertThat(r.path("requests_per_s").asDouble()).isPositive();
    for (String p : List.of("p50", "p90", "p99", "p999", "max")) {
      assertThat(r.path("latency_ms").path(p).asDouble()).as(p).isPositive();
    }
    assertThat(r.path("node_load").size()).isEqualTo(2);
    assertThat(r.path("imbalance").asDouble()).isGreaterThanOrEqualTo(1.0);

    CliRun down = CliRun.of("down", "--state-dir", state);
    assertThat(down.code()).as("%s", down).isZero();
    assertThat(down.out()).startsWith("stopped 3 of 3 processes");
    for (long pid : pids) {
      assertThat(ProcessHandle.of(pid).filter(ProcessHandle::isAlive))
          .as("pid %d after down", pid)
          .isEmpty();
    }
    assertThat(CliRun.of("down", "--state-dir", state).out())
        .startsWith("no local cluster is running");
    assertThat(CliRun.of("status", "--state-dir", state).out()).startsWith("no local cluster");
  }

  /** The session id of a process, from /proc/PID/stat (after the command's closing parenthesis). */
  private static long session(long pid) throws IOException {
    String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
    String[] afterCommand = stat.substring(stat.lastIndexOf(')') + 2).split(" ", -1);
    return Long.parseLong(afterCommand[3]); // state, ppid, pgrp, session
  }
}
