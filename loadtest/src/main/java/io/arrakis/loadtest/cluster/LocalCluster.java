package io.arrakis.loadtest.cluster;

import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.PlacementJson;
import io.arrakis.security.ClientSecurity;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;

/**
 * A router and N expert nodes on 127.0.0.1, each its own JVM, recorded in a state folder ({@link
 * StateLayout}). {@link #start} starts one and returns once every process answers SERVING; {@link
 * #attach} finds one that an earlier command started; {@link #stop} ends it. Plaintext, or TLS on
 * every server ({@link ClusterSecurity}); the state file says which, so that later commands reach
 * the processes as they expect.
 */
public final class LocalCluster implements AutoCloseable {
  public static final String HOST = "127.0.0.1";
  public static final String ROUTER_ID = "router-0";

  /** The port file of the router's HTTP API (in the state folder's run/, beside the gRPC ones). */
  static final String ROUTER_HTTP = ROUTER_ID + "-http";

  static final String EXPERT_MAIN = "io.arrakis.expert.cli.ExpertNodeMain";
  static final String ROUTER_MAIN = "io.arrakis.router.cli.RouterMain";

  /** A start that failed stops what it started without the full grace: nothing is serving yet. */
  private static final Duration FAILED_START_GRACE = Duration.ofSeconds(3);

  private final StateLayout layout;
  private volatile ClusterState state;
  private final Duration stopGrace;

  /**
   * How this cluster was started; null for one found by {@link #attach} (it cannot restart nodes).
   */
  private final ClusterOptions options;

  private final JvmLauncher launcher;

  /**
   * The processes this object started, by member id (those of {@link #attach} are known by pid
   * only).
   */
  private final Map<String, Process> processes = new ConcurrentHashMap<>();

  private LocalCluster(StateLayout layout, ClusterState state, Duration stopGrace) {
    this(layout, state, stopGrace, null, null);
  }

  private LocalCluster(
      StateLayout layout,
      ClusterState state,
      Duration stopGrace,
      ClusterOptions options,
      JvmLauncher launcher) {
    this.layout = layout;
    this.state = state;
    this.stopGrace = stopGrace;
    this.options = options;
    this.launcher = launcher;
  }

  /**
   * Starts expert nodes, then the router once the nodes' addresses are known. The caller makes sure
   * no cluster of this state folder runs (see {@link #attach}); leftovers of a dead one are
   * removed. On any failure, what was started is stopped again.
   */
  public static LocalCluster start(ClusterOptions o) throws IOException, InterruptedException {
    return start(o, Map.of());
  }

  /**
   * As {@link #start(ClusterOptions)}, with extra environment variables for the router process
   * (e.g. {@code ARRAKIS_MAX_INFLIGHT_TOKENS}: every router setting has one, see its
   * reference.conf).
   */
  public static LocalCluster start(ClusterOptions o, Map<String, String> routerEnv)
      throws IOException, InterruptedException {
    StateLayout layout = new StateLayout(o.stateDir());
    Placement plan = PlacementPlan.resolve(o);
    clear(layout);
    Files.createDirectories(layout.root().resolve("run"));
    PlacementJson.write(plan, layout.planFile());
    JvmLauncher launcher =
        new JvmLauncher(
            o.jvmOptions(),
            ClasspathSnapshot.take(System.getProperty("java.class.path"), layout.libDir()));
    Instant deadline = Instant.now().plus(o.startTimeout());
    List<Process> started = new ArrayList<>();
    try {
      ClusterSecurity security = o.security().prepare(layout);
      ClientSecurity probes = security.nodeClient();
      ClusterState state =
          new ClusterState(
              o.model().toAbsolutePath(), System.currentTimeMillis(), security, null, List.of());
      List<Readiness.Starting> nodes = new ArrayList<>();
      List<Member> members = new ArrayList<>();
      for (int i = 0; i < plan.nodes().size(); i++) {
        Placement.Node n = plan.nodes().get(i);
        Process p =
            launcher.start(
                EXPERT_MAIN, expertArgs(o, security, layout, n.id(), i, 0), layout.log(n.id()));
        started.add(p);
        nodes.add(new Readiness.Starting(n.id(), p, layout.portFile(n.id()), layout.log(n.id())));
        members.add(
            new Member(n.id(), ProcessRef.of(p.toHandle()), 0, layout.log(n.id()), n.experts()));
      }
      // recorded before waiting, so that `down` finds them should this command die meanwhile
      state = state.withExperts(members);
      ClusterStateJson.write(state, layout.stateFile());
      Map<String, Integer> ports = Readiness.await(nodes, deadline, probes);
      members.replaceAll(m -> m.withPort(ports.get(m.id())));
      state = state.withExperts(members);
      Placement placement =
          new Placement(
              plan.version(),
              plan.nodes().stream()
                  .map(n -> n.withAddress(HOST + ":" + ports.get(n.id())))
                  .toList());
      PlacementJson.write(placement, layout.placementFile());

      Process router =
          launcher.start(
              ROUTER_MAIN, routerArgs(o, security, layout), layout.log(ROUTER_ID), routerEnv);
      started.add(router);
      state =
          state.withRouter(
              new Member(
                  ROUTER_ID,
                  ProcessRef.of(router.toHandle()),
                  0,
                  layout.log(ROUTER_ID),
                  List.of()));
      ClusterStateJson.write(state, layout.stateFile());
      int routerPort =
          Readiness.await(
                  List.of(
                      new Readiness.Starting(
                          ROUTER_ID, router, layout.portFile(ROUTER_ID), layout.log(ROUTER_ID))),
                  deadline,
                  probes)
              .get(ROUTER_ID);
      state = state.withRouter(state.router().withPort(routerPort));
      ClusterStateJson.write(state, layout.stateFile());
      LocalCluster cluster = new LocalCluster(layout, state, o.stopGrace(), o, launcher);
      for (int i = 0; i < plan.nodes().size(); i++) {
        cluster.processes.put(plan.nodes().get(i).id(), started.get(i));
      }
      cluster.processes.put(ROUTER_ID, router);
      return cluster;
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

  private static List<String> expertArgs(
      ClusterOptions o,
      ClusterSecurity security,
      StateLayout layout,
      String id,
      int index,
      int port) {
    List<String> args =
        new ArrayList<>(
            List.of(
                "--model", o.model().toAbsolutePath().toString(),
                "--placement", layout.planFile().toString(),
                "--node-id", id,
                "--host", HOST,
                "--port", Integer.toString(port),
                "--port-file", layout.portFile(id).toString(),
                "--metrics-port",
                    Integer.toString(
                        o.metricsPortBase() == 0 ? 0 : o.metricsPortBase() + 1 + index)));
    if (o.computeThreads() != null) {
      args.addAll(List.of("--threads", o.computeThreads().toString()));
    }
    args.addAll(security.expertArgs());
    return args;
  }

  private static List<String> routerArgs(
      ClusterOptions o, ClusterSecurity security, StateLayout layout) {
    List<String> args =
        new ArrayList<>(
            List.of(
                "--model", o.model().toAbsolutePath().toString(),
                "--placement", layout.placementFile().toString(),
                "--node-id", ROUTER_ID,
                "--host", HOST,
                "--port", Integer.toString(o.routerPort()),
                "--port-file", layout.portFile(ROUTER_ID).toString(),
                "--http-port", Integer.toString(o.httpPort()),
                "--http-port-file", layout.portFile(ROUTER_HTTP).toString(),
                "--metrics-port", Integer.toString(o.metricsPortBase())));
    args.addAll(security.routerArgs());
    return args;
  }

  /** The cluster recorded in a state folder, if there is one (running, partly or not at all). */
  public static Optional<LocalCluster> attach(Path stateDir, Duration stopGrace)
      throws IOException {
    StateLayout layout = new StateLayout(stateDir);
    if (!Files.isRegularFile(layout.stateFile())) {
      return Optional.empty();
    }
    return Optional.of(
        new LocalCluster(layout, ClusterStateJson.read(layout.stateFile()), stopGrace));
  }

  /**
   * Removes what a cluster of this folder left (once its processes are gone), except its logs; its
   * own certificates and admin token too (fresh ones for each cluster: no CA key or admin token
   * outlives the cluster it served).
   */
  private static void clear(StateLayout layout) throws IOException {
    Files.deleteIfExists(layout.stateFile());
    Files.deleteIfExists(layout.placementFile());
    Files.deleteIfExists(layout.planFile());
    FileTrees.delete(layout.libDir());
    FileTrees.delete(layout.tlsDir());
    Files.deleteIfExists(layout.adminTokenFile());
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

  /** How the cluster's gRPC is secured, as it runs (certificates made by the cluster included). */
  public ClusterSecurity security() {
    return state.security();
  }

  /** host:port of the router's public and admin gRPC services. */
  public String routerAddress() {
    return state.router().address();
  }

  public int routerPort() {
    return state.router().port();
  }

  /**
   * The port of the router's OpenAI-compatible HTTP API (the router writes it before it reports
   * serving), or -1 when it has none (started with the API off, or by a version without it).
   */
  public int routerHttpPort() {
    try {
      return Integer.parseInt(Files.readString(layout.portFile(ROUTER_HTTP)).trim());
    } catch (IOException | NumberFormatException e) {
      return -1;
    }
  }

  /**
   * Base URL of the router's HTTP API ({@code http://127.0.0.1:PORT}, https with TLS), if it has
   * one.
   */
  public Optional<String> routerHttpUrl() {
    int port = routerHttpPort();
    return port > 0
        ? Optional.of((security().tls() ? "https://" : "http://") + HOST + ":" + port)
        : Optional.empty();
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
    List<ProcessHandle> live =
        state.members().stream().flatMap(m -> m.process().live().stream()).toList();
    Stopper.Result result = Stopper.stop(live, stopGrace);
    clear(layout);
    return result;
  }

  /** The expert node {@code id} as last recorded (its current process after a restart). */
  public Member expert(String id) {
    return state.experts().stream()
        .filter(m -> m.id().equals(id))
        .findFirst()
        .orElseThrow(
            () -> new IllegalArgumentException("no expert node " + id + " in this cluster"));
  }

  /** pid of the router process. */
  public long routerPid() {
    return state.router().process().pid();
  }

  /**
   * SIGKILL ({@code kill -9}) to expert node {@code id}; returns once the process is gone. Its port
   * stays recorded, so that {@link #restartExpert} can bring it back where the router looks for it.
   */
  public void killExpert(String id, Duration timeout) throws InterruptedException {
    ProcessHandle h = handle(id);
    if (h == null) {
      return;
    }
    h.destroyForcibly();
    awaitExit(id, h, timeout);
  }

  /**
   * SIGTERM to expert node {@code id} (it drains: NOT_SERVING, finishes in-flight work, exits);
   * returns its exit code once it is gone, or throws if it has not exited within {@code timeout}.
   * The exit code is -1 where this object did not start the process (it cannot be read then).
   */
  public int terminateExpert(String id, Duration timeout) throws InterruptedException {
    ProcessHandle h = handle(id);
    if (h == null) {
      return -1;
    }
    h.destroy();
    awaitExit(id, h, timeout);
    Process p = processes.get(id);
    return p != null && p.toHandle().pid() == h.pid() ? p.exitValue() : -1;
  }

  private ProcessHandle handle(String id) {
    Process p = processes.get(id);
    if (p != null && p.toHandle().pid() == expert(id).process().pid()) {
      return p.isAlive() ? p.toHandle() : null;
    }
    return expert(id).process().live().orElse(null);
  }

  private static void awaitExit(String id, ProcessHandle h, Duration timeout)
      throws InterruptedException {
    try {
      h.onExit().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      throw new ClusterException(id + " (pid " + h.pid() + ") did not exit within " + timeout);
    } catch (ExecutionException e) {
      throw new ClusterException(id + ": waiting for its exit failed: " + e.getCause());
    }
  }

  /**
   * Starts expert node {@code id} again, after it was killed or stopped, on the port it had (the
   * router's placement names that address) with the same experts and options, and waits until it
   * answers SERVING. The old process's log is kept as {@code ID.log.PID}. Only for a cluster this
   * object started.
   */
  public synchronized Member restartExpert(String id) throws IOException, InterruptedException {
    if (options == null || launcher == null) {
      throw new IllegalStateException(
          "only a cluster started by this object can restart its nodes");
    }
    Member old = expert(id);
    if (old.process().alive()) {
      throw new IllegalStateException(
          id + " still runs (pid " + old.process().pid() + "); stop it first");
    }
    int index = state.experts().indexOf(old);
    Path portFile = layout.portFile(id);
    Files.deleteIfExists(portFile);
    Path log = layout.log(id);
    Path previous = log.resolveSibling(id + ".log." + old.process().pid());
    if (Files.exists(log)) {
      Files.move(log, previous, StandardCopyOption.REPLACE_EXISTING);
    }
    Process p =
        launcher.start(
            EXPERT_MAIN, expertArgs(options, state.security(), layout, id, index, old.port()), log);
    processes.put(id, p);
    Member fresh = new Member(id, ProcessRef.of(p.toHandle()), old.port(), log, old.experts());
    List<Member> experts = new ArrayList<>(state.experts());
    experts.set(index, fresh);
    state = state.withExperts(experts);
    ClusterStateJson.write(state, layout.stateFile());
    Map<String, Integer> ports =
        Readiness.await(
            List.of(new Readiness.Starting(id, p, portFile, log)),
            Instant.now().plus(options.startTimeout()),
            state.security().nodeClient());
    if (ports.get(id) != old.port()) {
      throw new ClusterException(
          id + " came back on port " + ports.get(id) + ", not " + old.port());
    }
    return fresh;
  }

  /**
   * Resident memory (VmRSS of /proc/PID/status) of a process in KiB; -1 where it cannot be read.
   */
  public static long rssKib(long pid) {
    try {
      for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
        if (line.startsWith("VmRSS:")) {
          return Long.parseLong(line.substring(6).trim().split("\\s+", -1)[0]);
        }
      }
    } catch (IOException | NumberFormatException e) {
      return -1;
    }
    return -1;
  }

  @Override
  public void close() throws IOException {
    stop();
  }
}
