package io.arrakis.loadtest.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.arrakis.model.placement.ExpertId;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ClusterStateJsonTest {
  @TempDir Path tmp;

  @Test
  void roundTrips() throws Exception {
    Member router =
        new Member("router-0", new ProcessRef(10, 1000), 50051, tmp.resolve("r.log"), List.of());
    Member node =
        new Member(
            "expert-0",
            new ProcessRef(11, 1001),
            40000,
            tmp.resolve("e.log"),
            List.of(new ExpertId(0, 1), new ExpertId(1, 2)));
    ClusterState s =
        new ClusterState(
            tmp.resolve("model"), 1234, ClusterSecurity.PLAINTEXT, router, List.of(node));
    Path file = tmp.resolve("cluster.json");
    ClusterStateJson.write(s, file);
    assertThat(ClusterStateJson.read(file)).isEqualTo(s);
  }

  @Test
  void tlsAndTheTokenFilesAreRecorded() throws Exception {
    ClusterSecurity security =
        ClusterSecurity.tls(tmp.resolve("tls"))
            .withAuthTokenFile(tmp.resolve("token"))
            .withAdminTokenFile(tmp.resolve("admin-token"));
    ClusterState s = new ClusterState(tmp.resolve("model"), 1, security, null, List.of());
    Path file = tmp.resolve("cluster.json");
    ClusterStateJson.write(s, file);
    assertThat(ClusterStateJson.read(file).security()).isEqualTo(security);
  }

  @Test
  void aStateFileFromBeforeTlsIsPlaintext() throws Exception {
    Path file = tmp.resolve("cluster.json");
    Files.writeString(
        file,
        "{\"format\": 1, \"model\": \"/m\", \"started_unix_ms\": 1, \"router\": null, \"experts\": []}");
    assertThat(ClusterStateJson.read(file).security()).isEqualTo(ClusterSecurity.PLAINTEXT);
  }

  @Test
  void aStateWithoutRouterYetRoundTrips() throws Exception {
    ClusterState s = new ClusterState(tmp, 1, ClusterSecurity.PLAINTEXT, null, List.of());
    Path file = tmp.resolve("cluster.json");
    ClusterStateJson.write(s, file);
    assertThat(ClusterStateJson.read(file).router()).isNull();
  }

  @Test
  void aBrokenFileSaysWhatToDo() throws Exception {
    Path file = tmp.resolve("cluster.json");
    Files.writeString(file, "{not json");
    assertThatThrownBy(() -> ClusterStateJson.read(file))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("delete it if no cluster runs");
  }

  @Test
  void aReusedPidIsNotOurProcess() {
    ProcessHandle self = ProcessHandle.current();
    assertThat(ProcessRef.of(self).alive()).isTrue();
    assertThat(new ProcessRef(self.pid(), ProcessRef.of(self).startMillis() - 3_600_000).alive())
        .isFalse();
  }

  @Test
  void expertRangesAreCompact() {
    assertThat(
            ExpertRanges.format(
                List.of(
                    new ExpertId(0, 0),
                    new ExpertId(0, 1),
                    new ExpertId(0, 2),
                    new ExpertId(0, 5),
                    new ExpertId(1, 7))))
        .isEqualTo("0:0-2,0:5,1:7");
  }
}
