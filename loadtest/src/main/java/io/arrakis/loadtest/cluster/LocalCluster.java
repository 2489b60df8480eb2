package io.arrakis.loadtest.cluster;

import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.PlacementJson;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * A router and N expert nodes on 127.0.0.1, each its own JVM, recorded in a state folder
 * ({@link StateLayout}). {@link #start} starts one and returns once every process answers SERVING;
 * {@link #attach} finds one that an earlier command started; {@link #stop} ends it.
 */
public final class LocalCluster implements AutoCloseable {
  public static final String HOST = "127.0.0.1";
  public static final String ROUTER_ID = "router-0";
  static final String EXPERT_MAIN = "io.arrakis.expert.cli.ExpertNodeMain";
  static final String ROUTER_MAIN = "io.arrakis.router.cli.RouterMain";
  /** A start that failed stops what it started without the full grace: nothing is serving yet. */
  private static final Duration FAILED_START_GRACE = Duration.ofSeconds(3);

  private final StateLayout layout;
  private final ClusterState state;
  private final Duration stopGrace;

  private LocalCluster(StateLayout layout, ClusterState state, Duration stopGrace) {
    this.layout = layout;
    this.state = state;
    this.stopGrace = stopGrace;
  }

  /**
   * Starts expert nodes, then the router once the nodes' addresses are known. The caller makes sure
   * no cluster of this state folder runs (see {@link #attach}); leftovers of a dead one are removed.
   * On any failure, what was started is stopped again.
   */
  public static LocalCluster start(ClusterOptions o) throws IOException, InterruptedException {
    StateLayout layout = new StateLayout(o.stateDir());
    Placement plan = PlacementPlan.resolve(o);
    clear(layout);
    Files.createDirectories(layout.root().resolve("run"));
    PlacementJson.write(plan, layout.planFile());
    JvmLauncher launcher = new JvmLauncher(o.jvmOptions(),
        ClasspathSnapshot.take(System.getProperty("java.class.path"), layout.libDir()));
    Instant deadline = Instant.now().plus(o.startTimeout());
    List<Process> started = new ArrayList<>();
    ClusterState state = new ClusterState(o.model().toAbsolutePath(), System.currentTimeMillis(), null, List.of());
    try {
      List<Readiness.Starting> nodes = new ArrayList<>();
      List<Member> members = new ArrayList<>();
      for (int i = 0; i < plan.nodes().size(); i++) {
        Placement.Node n = plan.nodes().get(i);
        Process p = launcher.start(EXPERT_MAIN, expertArgs(o, layout, n.id(), i), layout.log(n.id()));
        started.add(p);
        nodes.add(new Readiness.Starting(n.id(), p, layout.portFile(n.id()), layout.log(n.id())));
        members.add(new Member(n.id(), ProcessRef.of(p.toHandle()), 0, layout.log(n.id()), n.experts()));
      }
      // recorded before waiting, so that `down` finds them should this command die meanwhile
      state = state.withExperts(members);
      ClusterStateJson.write(state, layout.stateFile());
      Map<String, Integer> ports = Readiness.await(nodes, deadline);
      members.replaceAll(m -> m.withPort(ports.get(m.id())));
      state = state.withExperts(members);
      Placement placement = new Placement(plan.version(),
          plan.nodes().stream().map(n -> n.withAddress(HOST + ":" + ports.get(n.id()))).toList());
      PlacementJson.write(placement, layout.placementFile());

      Process router = launcher.start(ROUTER_MAIN, routerArgs(o, layout), layout.log(ROUTER_ID));
      started.add(router);
      state = state.withRouter(new Member(ROUTER_ID, ProcessRef.of(router.toHandle()), 0, layout.log(ROUTER_ID), List.of()));
      ClusterStateJson.write(state, layout.stateFile());
      int routerPort = Readiness.await(
          List.of(new Readiness.Starting(ROUTER_ID, router, layout.portFile(ROUTER_ID), layout.log(ROUTER_ID))), deadline)
          .get(ROUTER_ID);
      state = state.withRouter(state.router().withPort(routerPort));
      ClusterStateJson.write(state, layout.stateFile());
      return new LocalCluster(layout, state, o.stopGrace());
    } catch (IOException | InterruptedException | RuntimeException e) {
      Stopper.stop(started.stream().map(Process::toHandle).toList(), FAILED_START_GRACE);
      try {
        clear(layout);
      } catch (IOException cleanup) {
        e.addSuppressed(cleanup); // the start's failure is the news
      }
      throw e;
    }
  }

  private static List<String> expertArgs(ClusterOptions o, StateLayout layout, String id, int index) {
    List<String> args = new ArrayList<>(List.of(
        "--model", o.model().toAbsolutePath().toString(),
        "--placement", layout.planFile().toString(),
        "--node-id", id,
        "--host", HOST,
        "--port", "0",
        "--port-file", layout.portFile(id).toString(),
        "--metrics-port", Integer.toString(o.metricsPortBase() == 0 ? 0 : o.metricsPortBase() + 1 + index)));
    if (o.computeThreads() != null) {
      args.addAll(List.of("--threads", o.computeThreads().toString()));
    }
    return args;
  }

  private static List<String> routerArgs(ClusterOptions o, StateLayout layout) {
    return List.of(
        "--model", o.model().toAbsolutePath().toString(),
        "--placement", layout.placementFile().toString(),
        "--node-id", ROUTER_ID,
        "--host", HOST,
        "--port", Integer.toString(o.routerPort()),
        "--port-file", layout.portFile(ROUTER_ID).toString(),
        "--metrics-port", Integer.toString(o.metricsPortBase()));
  }

  /** The cluster recorded in a state folder, if there is one (running, partly or not at all). */
  public static Optional<LocalCluster> attach(Path stateDir, Duration stopGrace) throws IOException {
    StateLayout layout = new StateLayout(stateDir);
    if (!Files.isRegularFile(layout.stateFile())) {
      return Optional.empty();
    }
    return Optional.of(new LocalCluster(layout, ClusterStateJson.read(layout.stateFile()), stopGrace));
  }

  /** Removes what a cluster of this folder left (once its processes are gone), except its logs. */
  private static void clear(StateLayout layout) throws IOException {
    Files.deleteIfExists(layout.stateFile());
    Files.deleteIfExists(layout.placementFile());
    Files.deleteIfExists(layout.planFile());
    ClasspathSnapshot.delete(layout.libDir());
    Path run = layout.root().resolve("run");
    if (Files.isDirectory(run)) {
      List<Path> ports;
      try (Stream<Path> files = Files.list(run)) {
        ports = files.toList();
      } catch (NoSuchFileException gone) {
        ports = List.of();
      }
      for (Path f : ports) {
        Files.deleteIfExists(f);
      }
    }
  }

  public ClusterState state() {
    return state;
  }

  public StateLayout layout() {
    return layout;
  }

  /** host:port of the router's public and admin gRPC services. */
  public String routerAddress() {
    return state.router().address();
  }

  public int routerPort() {
    return state.router().port();
  }

  /** The placement the router was started with, addresses included. */
  public Placement placement() throws IOException {
    return PlacementJson.read(layout.placementFile());
  }

  /** Whether any of its processes still runs. */
  public boolean anyAlive() {
    return !state.alive().isEmpty();
  }

  /**
   * SIGTERM to every live process, SIGKILL after the grace period; then the state folder forgets
   * the cluster (logs stay). Safe to call again.
   */
  public Stopper.Result stop() throws IOException {
    List<ProcessHandle> live = state.members().stream().flatMap(m -> m.process().live().stream()).toList();
    Stopper.Result result = Stopper.stop(live, stopGrace);
    clear(layout);
    return result;
  }

  @Override
  public void close() throws IOException {
    stop();
  }
}
