package io.arrakis.loadtest.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.arrakis.loadtest.cluster.ClusterSecurity;
import io.arrakis.loadtest.cluster.ClusterStatus;
import io.arrakis.loadtest.cluster.ClusterStatus.MemberStatus;
import io.arrakis.loadtest.cluster.ExpertRanges;
import io.arrakis.loadtest.cluster.LocalCluster;
import io.arrakis.loadtest.cluster.Member;
import io.arrakis.model.placement.ExpertId;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code arrakis status}: the local cluster's processes, whether they run and serve. */
@Command(
    name = "status",
    mixinStandardHelpOptions = true,
    description =
        "Show the local cluster's processes: pid, port, experts held, running and serving or not.")
final class StatusCommand implements Callable<Integer> {
  private static final ObjectMapper JSON =
      new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(
      names = "--json",
      description =
          "Print {\"router\": {\"pid\", \"port\", \"http_port\"}, \"experts\": [{\"id\", \"pid\", "
              + "\"port\", \"experts\"}], \"tls\"} and more.")
  boolean json;

  @Option(
      names = "--state-dir",
      paramLabel = "DIR",
      description = "State folder (default: $ARRAKIS_HOME/.arrakis/cluster).")
  Path stateDir;

  @Override
  public Integer call() throws Exception {
    Path dir = stateDir != null ? stateDir : Home.fromEnvironment().clusterState();
    PrintWriter out = spec.commandLine().getOut();
    Optional<LocalCluster> cluster = LocalCluster.attach(dir, RunningClusters.STOP_GRACE);
    ClusterStatus status = cluster.isPresent() ? ClusterStatus.probe(cluster.get().state()) : null;
    int httpPort = cluster.map(LocalCluster::routerHttpPort).orElse(-1);
    if (json) {
      out.println(JSON.writeValueAsString(toJson(dir, status, httpPort)));
    } else if (status == null) {
      out.println("no local cluster (state folder " + dir.toAbsolutePath().normalize() + ")");
    } else {
      human(out, dir, status, cluster.get().routerHttpUrl().orElse(null));
    }
    return 0;
  }

  private static ObjectNode toJson(Path dir, ClusterStatus status, int httpPort) {
    ObjectNode root = JSON.createObjectNode();
    root.put("state_dir", dir.toAbsolutePath().normalize().toString());
    if (status == null) {
      root.put("running", false);
      root.putNull("router");
      root.putArray("experts");
      return root;
    }
    root.put("running", status.dead().isEmpty() && status.state().router() != null);
    root.put("serving", status.allServing());
    root.put("model", status.state().model().toString());
    ClusterSecurity security = status.state().security();
    root.put("tls", security.tls());
    root.put("tls_dir", security.tls() ? security.tlsDir().toString() : null);
    root.put(
        "auth_token_file",
        security.authTokenFile() == null ? null : security.authTokenFile().toString());
    root.put(
        "admin_token_file",
        security.adminTokenFile() == null ? null : security.adminTokenFile().toString());
    MemberStatus router = status.router();
    if (router == null) {
      root.putNull("router");
    } else {
      ObjectNode r = root.putObject("router");
      member(r, router);
      if (httpPort > 0) {
        r.put("http_port", httpPort);
      } else {
        r.putNull("http_port");
      }
    }
    ArrayNode experts = root.putArray("experts");
    for (MemberStatus s : status.experts()) {
      ObjectNode o = experts.addObject();
      member(o, s);
      ArrayNode ex = o.putArray("experts");
      for (ExpertId e : s.member().experts()) {
        ex.addObject().put("layer", e.layer()).put("expert", e.expert());
      }
    }
    return root;
  }

  private static void member(ObjectNode o, MemberStatus s) {
    Member m = s.member();
    o.put("id", m.id());
    o.put("pid", m.process().pid());
    o.put("port", m.port());
    o.put("address", m.address());
    o.put("alive", s.alive());
    o.put("serving", s.serving());
    o.put("log", m.log().toString());
  }

  private static void human(PrintWriter out, Path dir, ClusterStatus status, String httpUrl) {
    out.printf(
        "local cluster of %s (state %s)%n",
        status.state().model(), dir.toAbsolutePath().normalize());
    out.printf("  security   %s%n", status.state().security().describe());
    if (status.router() == null) {
      out.println("  router     (not started: the cluster did not finish starting)");
    }
    for (MemberStatus s : status.members()) {
      Member m = s.member();
      String state =
          !s.alive()
              ? "DEAD (see " + m.log() + ")"
              : s.serving() ? "serving" : "running, not serving";
      String experts = m.experts().isEmpty() ? "" : "  experts " + ExpertRanges.format(m.experts());
      out.printf(
          "  %-10s pid %-7d %-16s %s%s%n",
          m.id(), m.process().pid(), m.port() > 0 ? m.address() : "-", state, experts);
    }
    if (httpUrl != null) {
      out.printf("  HTTP API   %s/v1 (OpenAI-compatible)%n", httpUrl);
    }
    if (!status.dead().isEmpty()) {
      out.printf(
          "%d of %d processes are dead; 'arrakis down' cleans up%n",
          status.dead().size(), status.members().size());
    }
  }
}
