package io.arrakis.loadtest.cluster;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** SIGTERM to every process at once, SIGKILL to those still running after a grace period. */
public final class Stopper {
  /** After SIGKILL the kernel reaps at once; this only bounds the wait for it. */
  private static final Duration KILL_WAIT = Duration.ofSeconds(5);

  /** How the processes ended: after SIGTERM, or only after SIGKILL. */
  public record Result(int terminated, int killed) {
    public int total() {
      return terminated + killed;
    }
  }

  private Stopper() {}

  public static Result stop(List<ProcessHandle> processes, Duration grace) {
    List<ProcessHandle> live = processes.stream().filter(ProcessHandle::isAlive).toList();
    live.forEach(ProcessHandle::destroy);
    List<ProcessHandle> left = awaitExit(live, grace);
    left.forEach(ProcessHandle::destroyForcibly);
    awaitExit(left, KILL_WAIT);
    return new Result(live.size() - left.size(), left.size());
  }

  /** Waits until the deadline; returns those still alive. */
  private static List<ProcessHandle> awaitExit(List<ProcessHandle> processes, Duration timeout) {
    Instant deadline = Instant.now().plus(timeout);
    List<ProcessHandle> left = new ArrayList<>();
    for (ProcessHandle p : processes) {
      long ms = Math.max(0, Duration.between(Instant.now(), deadline).toMillis());
      try {
        p.onExit().get(ms, TimeUnit.MILLISECONDS);
      } catch (TimeoutException e) {
        left.add(p);
      } catch (InterruptedException e) {
        // stopping must finish even when interrupted (e.g. from a shutdown hook): note it and go on
        Thread.currentThread().interrupt();
        if (p.isAlive()) {
          left.add(p);
        }
      } catch (ExecutionException e) {
        if (p.isAlive()) {
          left.add(p);
        }
      }
    }
    return left;
  }
}
