package io.arrakis.loadtest.cli;

import io.arrakis.loadtest.cluster.LocalCluster;
import io.arrakis.loadtest.cluster.StateLayout;
import io.arrakis.loadtest.cluster.StateLock;
import io.arrakis.loadtest.simulate.Calibration;
import io.arrakis.loadtest.simulate.CalibrationJson;
import io.arrakis.loadtest.simulate.calibrate.Calibrator;
import io.arrakis.model.synthetic.GeneratorOptions;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code arrakis simulate calibrate}: what work costs on this machine, for the simulator. */
@Command(
    name = "calibrate",
    mixinStandardHelpOptions = true,
    description =
        "Measure what the simulator needs on this machine and write it as JSON: the expert block and the gate "
            + "timed in process, then a 1-node local cluster under a few closed-loop runs, its CPU time per process split "
            + "into per-request, per-token, per-call and per-row costs. Takes 1-2 minutes. Without --model a synthetic "
            + "model of the given sizes is generated (once, under .arrakis/).")
final class CalibrateCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(
      names = "--out",
      required = true,
      paramLabel = "FILE.json",
      description = "Where to write the calibration.")
  Path out;

  @Option(
      names = "--model",
      paramLabel = "DIR",
      description = "Model to calibrate with (default: a synthetic one of the sizes below).")
  Path model;

  @Option(
      names = "--hidden",
      paramLabel = "D",
      defaultValue = "512",
      description = "Synthetic model: hidden size (default: ${DEFAULT-VALUE}).")
  int hidden;

  @Option(
      names = "--ffn",
      paramLabel = "F",
      defaultValue = "1024",
      description = "Synthetic model: expert FFN size (default: ${DEFAULT-VALUE}).")
  int ffn;

  @Option(
      names = "--experts",
      paramLabel = "E",
      defaultValue = "16",
      description = "Synthetic model: experts per layer (default: ${DEFAULT-VALUE}).")
  int experts;

  @Option(
      names = "--top-k",
      paramLabel = "K",
      defaultValue = "2",
      description = "Synthetic model: experts per token (default: ${DEFAULT-VALUE}).")
  int topK;

  @Option(
      names = "--layers",
      paramLabel = "L",
      defaultValue = "2",
      description = "Synthetic model: layers (default: ${DEFAULT-VALUE}).")
  int layers;

  @Option(
      names = "--skew",
      paramLabel = "S",
      defaultValue = "1.0",
      description = "Synthetic model: Zipf skew (default: ${DEFAULT-VALUE}).")
  double skew;

  @Option(
      names = "--duration",
      paramLabel = "DURATION",
      defaultValue = "8s",
      converter = DurationConverter.class,
      description = "Each measured run (default: ${DEFAULT-VALUE}).")
  Duration duration;

  @Option(
      names = "--warmup",
      paramLabel = "DURATION",
      defaultValue = "3s",
      converter = DurationConverter.class,
      description = "Load before each run, not measured (default: ${DEFAULT-VALUE}).")
  Duration warmup;

  @Option(
      names = "--settle",
      paramLabel = "DURATION",
      defaultValue = "180s",
      converter = DurationConverter.class,
      description =
          "Before the runs, load until the processes' CPU per request holds still and their JIT "
              + "compilers are quiet (fresh JVMs on 2 cores: about 80 s), at most this long "
              + "(default: ${DEFAULT-VALUE}).")
  Duration settle;

  @Option(
      names = "--runs",
      paramLabel = "CxT,...",
      split = ",",
      defaultValue = "16x64,16x16,2x16,2x1",
      description = "Closed-loop runs as callers x tokens per request (default: ${DEFAULT-VALUE}).")
  List<String> runs;

  @Option(
      names = "--threads",
      paramLabel = "N",
      description =
          "Compute threads of the expert node (default: one per core, so that the runs with many"
              + " callers keep every core busy and show what sharing them costs).")
  Integer threads;

  @Option(
      names = "--java-opts",
      paramLabel = "OPTS",
      defaultValue = "-Xmx1g",
      description =
          "JVM options of the cluster's processes: those of the cluster to predict (default: ${DEFAULT-VALUE}).")
  String javaOpts;

  @Option(
      names = "--state-dir",
      paramLabel = "DIR",
      description =
          "State folder of the calibration's cluster (default: $ARRAKIS_HOME/.arrakis/calibrate-cluster).")
  Path stateDir;

  @Option(
      names = "--seed",
      paramLabel = "SEED",
      defaultValue = "1",
      description = "Seed of inputs and weights (default: ${DEFAULT-VALUE}).")
  long seed;

  @Override
  @SuppressWarnings("try") // the exit guard works by being held, unreferenced
  public Integer call() throws Exception {
    PrintWriter o = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    Home home = Home.fromEnvironment();
    Path dir = model;
    if (dir == null) {
      GeneratorOptions g =
          new GeneratorOptions(layers, experts, hidden, ffn, topK, true, false, skew, seed);
      dir =
          DemoModel.ensure(
              home.dotDir()
                  .resolve(
                      String.format(
                          Locale.ROOT,
                          "calibrate-model-%dx%d-d%d-f%d-k%d-s%s",
                          layers,
                          experts,
                          hidden,
                          ffn,
                          topK,
                          skew)),
              g,
              "the calibration model",
              err);
    }
    Path state = stateDir != null ? stateDir : home.dotDir().resolve("calibrate-cluster");
    List<String> jvm =
        javaOpts.isBlank() ? List.of() : Arrays.asList(javaOpts.trim().split("\\s+"));
    Calibrator.Options options =
        new Calibrator.Options(
            dir, jvm, threads, warmup, settle, duration, parseRuns(runs), state, seed);
    Calibrator.Result r;
    Optional<StateLock> lock = StateLock.tryAcquire(new StateLayout(state));
    if (lock.isEmpty()) {
      throw new IllegalStateException(
          "another 'arrakis simulate calibrate' is running (state " + state + ")");
    }
    try (StateLock held = lock.get();
        StopOnExit guard = new StopOnExit(state, "calibration cluster")) {
      // the lock was free, so no calibration runs: live processes here were left by one killed
      // outright
      Optional<LocalCluster> left = RunningClusters.running(state);
      if (left.isPresent()) {
        err.println(
            "stopping what an earlier calibration left running: "
                + RunningClusters.describe(left.get()));
        left.get().stop();
      }
      r = Calibrator.calibrate(options, err);
    }
    CalibrationJson.write(r.calibration(), r.measurements(), out);
    Calibration c = r.calibration();
    o.printf(
        Locale.ROOT,
        "expert      %.3f ms at 1 row, %.3f ms at %d rows (CPU, hidden %d, ffn %d)%n",
        1e3 * c.expertSeconds(1),
        1e3 * c.expertSeconds(256),
        256,
        c.model().hidden(),
        c.model().ffn());
    o.printf(
        Locale.ROOT,
        "router      %.3f ms/request + %.4f ms/token + gate %.6f ms/token/expert + %.3f ms/call%n",
        1e3 * c.router().requestSeconds(),
        1e3 * c.router().tokenSeconds(),
        1e3 * c.router().gateSecondsPerTokenExpert(),
        1e3 * c.router().callSeconds());
    o.printf(
        Locale.ROOT,
        "node        %.3f ms/call + %.4f ms/row, besides the experts%n",
        1e3 * c.node().callSeconds(),
        1e3 * c.node().rowSeconds());
    o.printf(
        Locale.ROOT,
        "client      %.3f ms/request + %.4f ms/token%n",
        1e3 * c.client().requestSeconds(),
        1e3 * c.client().tokenSeconds());
    o.printf(
        Locale.ROOT,
        "shared host %.0f%% of the cores do the processes' work when all are busy; %.0f us a"
            + " hand-off%n",
        100 * c.host().efficiency(),
        1e6 * c.host().handOffSeconds());
    o.printf("wrote       %s%n", out);
    o.flush();
    return 0;
  }

  private static List<Calibrator.Run> parseRuns(List<String> specs) {
    List<Calibrator.Run> out = new ArrayList<>();
    for (String s : specs) {
      String[] p = s.trim().toLowerCase(Locale.ROOT).split("x", -1);
      try {
        if (p.length != 2) {
          throw new NumberFormatException();
        }
        int c = Integer.parseInt(p[0].trim());
        int t = Integer.parseInt(p[1].trim());
        if (c < 1 || t < 1) {
          throw new NumberFormatException();
        }
        out.add(new Calibrator.Run(c, t));
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(
            "--runs items must be CALLERSxTOKENS with positive numbers (16x16), got '" + s + "'");
      }
    }
    return out;
  }
}
