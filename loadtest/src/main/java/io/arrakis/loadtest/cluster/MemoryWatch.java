package io.arrakis.loadtest.cluster;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Resident memory of every process of a local cluster, sampled at a fixed interval while load runs:
 * whether memory stays flat over a long run (a soak) is read from these series, never from one
 * reading at the end.
 */
public final class MemoryWatch implements AutoCloseable {
  /** One process's samples, in KiB, with seconds since the watch began. */
  public record Series(String member, List<double[]> samples) {
    /** Growth from the first sample at or after {@code fromSeconds} to the last, in MiB. */
    public double growthMib(double fromSeconds) {
      double[] first = samples.stream().filter(s -> s[0] >= fromSeconds).findFirst().orElse(null);
      if (first == null || samples.isEmpty()) {
        return Double.NaN;
      }
      return (samples.get(samples.size() - 1)[1] - first[1]) / 1024.0;
    }

    public double maxMib() {
      return samples.stream().mapToDouble(s -> s[1]).max().orElse(Double.NaN) / 1024.0;
    }

    public double lastMib() {
      return samples.isEmpty() ? Double.NaN : samples.get(samples.size() - 1)[1] / 1024.0;
    }
  }

  private final ScheduledExecutorService timer =
      Executors.newSingleThreadScheduledExecutor(
          r -> {
            Thread t = new Thread(r, "memory-watch");
            t.setDaemon(true);
            return t;
          });
  private final Map<String, List<double[]>> samples = new LinkedHashMap<>();
  private final List<Member> members;
  private final long began = System.nanoTime();
  private final ScheduledFuture<?> sampling;

  MemoryWatch(List<Member> members, Duration interval) {
    this.members = List.copyOf(members);
    members.forEach(m -> samples.put(m.id(), new ArrayList<>()));
    sampling =
        timer.scheduleAtFixedRate(this::sample, 0, interval.toMillis(), TimeUnit.MILLISECONDS);
  }

  /** Starts sampling the router and every expert node of {@code cluster} now. */
  public static MemoryWatch start(LocalCluster cluster, Duration interval) {
    List<Member> members = new ArrayList<>();
    if (cluster.state().router() != null) {
      members.add(cluster.state().router());
    }
    members.addAll(cluster.state().experts());
    return new MemoryWatch(members, interval);
  }

  private synchronized void sample() {
    double t = (System.nanoTime() - began) / 1e9;
    for (Member m : members) {
      long kib = LocalCluster.rssKib(m.process().pid());
      if (kib >= 0) {
        samples.get(m.id()).add(new double[] {t, kib});
      }
    }
  }

  /**
   * Stops sampling (after one last sample) and returns every process's series.
   *
   * @throws IllegalStateException when a sample failed: the series stopped there, and a flat tail
   *     that was never measured must not pass for one
   */
  public List<Series> stop() throws InterruptedException {
    timer.shutdown();
    timer.awaitTermination(5, TimeUnit.SECONDS);
    // shutting down cancels a periodic task; one that threw stays done with its failure
    if (sampling.isDone() && !sampling.isCancelled()) {
      try {
        sampling.get();
      } catch (ExecutionException e) {
        throw new IllegalStateException("sampling the processes' memory failed", e.getCause());
      }
    }
    return series();
  }

  private synchronized List<Series> series() {
    sample();
    List<Series> out = new ArrayList<>();
    samples.forEach((id, s) -> out.add(new Series(id, List.copyOf(s))));
    return out;
  }

  @Override
  public void close() {
    timer.shutdownNow();
  }
}
